"""Chaos in front of an external HTTPS provider, end to end: node oidc-provider served over TLS as
`idp.test` (a certificate from a test CA, reached at 127.0.0.1 through `target.resolve`), behind the
embedded proxy with TLS on both hops. One `harness run` of tests/fixtures/oidc_provider/external-tls.yaml:
every OIDC flow at baseline, then http_error on the token endpoint, latency on the link, reset_peer,
`down`, and an http_latency on the JWKS endpoint, each of which must show in the records as configured.
Then a provider whose discovery names a host outside `allow`, and the embedded target started as
`harness target --tls` used as an external provider (AWS flows included)."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from harness.clients.caller import JOURNEY_STEP
from harness.records import read_records
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process
from tests.integration.clients.oidc_provider import FIXTURE, OidcProvider, ProviderTls, start_oidc_provider

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(300)]

OIDC_FLOWS = {"client_credentials", "authorization_code_pkce", "refresh_token", "device_authorization",
              "jwks_validation", "token_introspection", "revocation"}
MARGIN_S = 0.3  # attempts started this close to a fault's edges may have been in flight across it


USERS = [("carol.ops", "pw-Users-Carol-7Qm2"), ("dave.ops", "pw-Users-Dave-3Xk8"), ("erin.ops", "pw-Users-Erin-5Tz1")]


@dataclass
class ChaosRun:
    run_dir: Path
    idp: OidcProvider
    provider_log: Path
    users_file: Path
    attempts: pd.DataFrame
    operations: pd.DataFrame
    journal: dict[str, Any]

    def fault(self, phase: str) -> dict[str, Any]:
        fault: dict[str, Any]
        (fault,) = [f for f in self.journal["faults"] if f["phase"] == phase]
        assert fault["applied_at"] is not None and fault["removed_at"] is not None, fault
        return fault

    def while_on(self, phase: str, held_s: float = 0.0) -> pd.DataFrame:
        """Attempts started while the phase's fault was on (per the journal), away from its edges. A
        latency fault's removal lets what it holds go at once (as Toxiproxy's toxics do when interrupted),
        so an attempt must start `held_s` before that as well to have been held for its whole delay."""
        fault = self.fault(phase)
        a = self.attempts
        return a[(a.ts >= fault["applied_at"] + MARGIN_S) & (a.ts <= fault["remove_asked_at"] - MARGIN_S - held_s)]


def provider_env(idp: OidcProvider) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "IT_IDP_"))}
    return {**clean, "IT_IDP_CLIENT_ID": idp.client_id, "IT_IDP_CLIENT_SECRET": idp.client_secret,
            "IT_IDP_USERNAME": idp.username, "IT_IDP_PASSWORD": idp.password}


def write_scenario(name: str, idp: OidcProvider, tls: ProviderTls, where: Path) -> Path:
    path = where / name
    path.write_text((FIXTURE / name).read_text().replace("${ISSUER}", idp.issuer).replace("${CA_BUNDLE}", tls.ca_file))
    return path


def harness_run(scenario: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(harness_argv("run", str(scenario), "--out", str(out), *extra), capture_output=True,
                          text=True, timeout=240, env=env)


def wait_https(url: str, ca_file: Path, timeout_s: float = 20.0) -> None:
    """Poll until `url` answers 200 over TLS checked against `ca_file` (written by the server at start)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ca_file.exists() and requests.get(url, verify=str(ca_file), timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout_s} s")


def only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return run_dir


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChaosRun]:
    tmp = tmp_path_factory.mktemp("external-tls")
    tls = ProviderTls.for_host("idp.test", tmp / "idp-tls")
    users_file = tmp / "users.csv"  # many identities: each simulated user signs in as one line
    users_file.write_text("# username,password\n" + "".join(f"{u},{p}\n" for u, p in USERS))
    with start_oidc_provider(tmp / "idp-logs", tls=tls, users_file=users_file) as idp:
        scenario = write_scenario("external-tls.yaml", idp, tls, tmp)
        result = harness_run(scenario, tmp / "out", {**provider_env(idp), "IT_IDP_USERS_FILE": str(users_file)})
        # 1 is an SLO that failed: the tests below say which records are wrong; anything else is a crash
        assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
        run_dir = only_run_dir(tmp / "out")
        yield ChaosRun(run_dir, idp, tmp / "idp-logs" / "oidc-provider.out", users_file,
                       read_records(run_dir / "records", "attempts").to_pandas(),
                       read_records(run_dir / "records", "operations").to_pandas(),
                       json.loads((run_dir / "journal.json").read_text()))


def test_the_run_passes_its_slos(chaos: ChaosRun) -> None:
    summary = json.loads((chaos.run_dir / "summary.json").read_text())
    failed = [(s["name"], s["observed"], s.get("message")) for s in summary["slos"] if s["verdict"] != "pass"]
    assert not failed and chaos.journal["exit_code"] == 0, failed


def test_every_oidc_flow_passes_at_baseline_with_the_providers_issuer(chaos: ChaosRun) -> None:
    ops = chaos.operations
    brownout_at = chaos.fault("brownout")["apply_asked_at"]
    ended = ops.ts + ops.latency_ms / 1000
    journeys = ops[(ops.step == JOURNEY_STEP) & (ops.phase == "baseline") & (ended < brownout_at)]
    assert set(journeys.flow) == OIDC_FLOWS
    failed = journeys[journeys.outcome != "ok"]
    assert failed.empty, failed[["flow", "outcome", "status"]].to_string()
    # the relying party accepted the genuine tokens: their `iss` is the provider's own https://idp.test:<port>
    verify = chaos.attempts[(chaos.attempts.step == "verify") & (chaos.attempts.phase == "baseline")]
    assert len(verify) > 0 and set(verify.outcome) == {"ok"}
    assert chaos.journal["services"]["provider"]["issuer"] == chaos.idp.issuer
    assert chaos.journal["steady_state"]["before"]["ok"] and chaos.journal["steady_state"]["after"]["ok"]


def test_the_provider_sees_its_own_name_in_sni_and_host(chaos: ChaosRun) -> None:
    port = chaos.idp.issuer.rsplit(":", 1)[1]
    seen = [line.split("seen ", 1)[1] for line in chaos.provider_log.read_text().splitlines() if "seen " in line]
    assert seen == [f"sni=idp.test host=idp.test:{port}"]


def test_one_proxy_for_the_providers_origin_with_tls_on_both_hops(chaos: ChaosRun) -> None:
    (proxy,) = chaos.journal["services"]["proxy"]["proxies"]
    assert proxy["upstream"] == f"127.0.0.1:{chaos.idp.issuer.rsplit(':', 1)[1]}"  # resolve applied
    assert proxy["tls"]["upstream_tls"]["server_name"] == "idp.test"
    assert any(e["kind"] == "tls" for e in chaos.journal["events"])
    # the run's CA and every key stay in a scratch directory: nothing of them in the published run directory
    for path in chaos.run_dir.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_http_error_on_token_shows_at_the_configured_share(chaos: ChaosRun) -> None:
    token = chaos.while_on("brownout")
    token = token[token.endpoint == "token"]
    share = float((token.status == 503).mean())
    assert len(token) >= 2000, f"only {len(token)} token requests while the fault was on"
    # four binomial standard errors: 0.041 at the 2,000 requests a slow machine makes, 0.017 at 10,000
    assert abs(share - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / len(token)), (share, len(token))
    others = chaos.while_on("brownout")
    assert not (others[others.endpoint != "token"].status == 503).any()  # the token path only
    summary = json.loads((chaos.run_dir / "summary.json").read_text())
    (fault,) = [f for f in summary["faults"] if f["id"] == "brownout.0"]
    assert fault["injected"] is not None  # the proxy counted what it injected on the provider's token path


def test_latency_on_the_link_shifts_every_answer(chaos: ChaosRun) -> None:
    base = chaos.attempts[(chaos.attempts.phase == "baseline") & (chaos.attempts.method != "VERIFY")]
    slow = chaos.while_on("slow-link", held_s=0.15)
    slow = slow[slow.method != "VERIFY"]
    # every answer is at least the toxic's 150 ms late (a low quantile, not a difference of medians: on a
    # loaded machine the baseline's own median grows and a median difference understates the shift)
    fastest = statistics.quantiles(slow.latency_ms, n=20)[0]
    shift = statistics.median(slow.latency_ms) - statistics.median(base.latency_ms)
    assert len(slow) >= 20 and fastest >= 0.9 * 150 and shift <= 3 * 150, (fastest, shift, len(slow))
    assert not set(slow.outcome) & {"timeout", "reset", "connect_error", "http_5xx"}  # slower, not broken


def test_reset_peer_and_down_end_every_exchange(chaos: ChaosRun) -> None:
    for phase, outcome in (("resets", "reset"), ("outage", "connect_error")):
        sent = chaos.while_on(phase)
        sent = sent[sent.method != "VERIFY"]
        share = float((sent.outcome == outcome).mean())
        assert len(sent) >= 50 and share >= 0.98, (phase, len(sent), sent.outcome.value_counts().to_dict())


def test_http_latency_on_jwks_shifts_only_jwks(chaos: ChaosRun) -> None:
    a = chaos.attempts
    jwks = a[(a.endpoint == "jwks") & (a.method == "GET")]
    base = jwks[jwks.phase == "baseline"]
    slow = chaos.while_on("slow-jwks", held_s=0.4)
    slow_jwks = slow[(slow.endpoint == "jwks") & (slow.method == "GET")]
    fastest = min(slow_jwks.latency_ms)  # every JWKS answer is at least the toxic's 400 ms late
    shift = statistics.median(slow_jwks.latency_ms) - statistics.median(base.latency_ms)
    assert len(slow_jwks) >= 5 and fastest >= 0.9 * 400 and shift <= 2 * 400, (fastest, shift, len(slow_jwks))
    token = slow[slow.endpoint == "token"]
    assert statistics.median(token.latency_ms) < 200  # the token path is not slowed


def test_each_identity_of_the_users_file_signs_in_and_none_reaches_the_run_directory(chaos: ChaosRun) -> None:
    signed_in = {line.split("signed in ", 1)[1] for line in chaos.provider_log.read_text().splitlines()
                 if line.startswith("signed in ")}  # fmt: skip
    assert signed_in == {user for user, _ in USERS}  # not the single user of IT_IDP_USERNAME
    texts = [p.read_bytes() for p in chaos.run_dir.rglob("*") if p.is_file()]
    for secret in (chaos.idp.client_secret, chaos.idp.password, *(password for _, password in USERS)):
        assert not any(secret.encode() in t for t in texts)


@pytest.fixture(scope="module")
def odd_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OidcProvider, ProviderTls, Path]]:
    """A provider whose discovery puts userinfo on outside.test, a host no scenario here allows."""
    tmp = tmp_path_factory.mktemp("odd-provider")
    tls = ProviderTls.for_host("idp.test", tmp / "idp-tls")
    with start_oidc_provider(tmp / "idp-logs", tls=tls, userinfo_url="https://outside.test/me") as idp:
        yield idp, tls, tmp / "idp-logs" / "oidc-provider.out"


def short_scenario(idp: OidcProvider, tls: ProviderTls, where: Path, flow: str) -> Path:
    scenario = write_scenario("external-tls.yaml", idp, tls, where)
    text = scenario.read_text().split("flows:", 1)[0]  # the same target, a short run of one flow
    scenario.write_text(text + f"flows: [{{flow: {flow}}}]\nphases: [{{name: steady, duration_s: 3}}]\n"
                        "slos: [{name: ok, metric: availability, at_least: 0.99}]\n")
    return scenario


def test_a_discovered_url_outside_allow_is_neither_proxied_nor_called(odd_provider, tmp_path: Path) -> None:
    """The provider's discovery puts userinfo on outside.test, which is not in `allow`: the plan and the run
    leave it out, no proxy is made for it, and the flow that needs it fails without a userinfo attempt."""
    idp, tls, provider_log = odd_provider
    scenario = short_scenario(idp, tls, tmp_path, "authorization_code_pkce")
    env = provider_env(idp)
    plan = harness_run(scenario, tmp_path / "plan", env, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "userinfo at https://outside.test/me: host not in allow, neither proxied nor called" in plan.stdout
    result = harness_run(scenario, tmp_path / "out", env)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path / "out")
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["services"]["provider"]["outside_allow"] == {"userinfo": "https://outside.test/me"}
    assert [p["upstream"].split(":")[0] for p in journal["services"]["proxy"]["proxies"]] == ["127.0.0.1"]
    attempts = read_records(run_dir / "records", "attempts").to_pandas()
    assert len(attempts[attempts.step == "token"]) > 0  # the flow ran up to the step it cannot make
    assert "userinfo" not in set(attempts.endpoint)
    assert "outside.test" not in provider_log.read_text()


def test_a_certificate_that_does_not_verify_is_recorded_not_a_crash(odd_provider, tmp_path: Path) -> None:
    """Without the test CA in `ca_bundle`, the provider's certificate does not verify: discovery at start
    fails (recorded), the issuer's origin is proxied all the same, and every attempt is a tls_error record."""
    idp, tls, _ = odd_provider
    scenario = short_scenario(idp, tls, tmp_path, "client_credentials")
    scenario.write_text("\n".join(line for line in scenario.read_text().splitlines() if "ca_bundle" not in line))
    result = harness_run(scenario, tmp_path / "out", provider_env(idp))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]  # an SLO failed; no crash (4)
    run_dir = only_run_dir(tmp_path / "out")
    journal = json.loads((run_dir / "journal.json").read_text())
    (failed,) = [e for e in journal["events"] if e["kind"] == "discovery_failed"]
    assert failed["detail"].startswith("tls_error")
    attempts = read_records(run_dir / "records", "attempts").to_pandas()
    assert len(attempts) > 0 and set(attempts.outcome) == {"tls_error"}
    assert journal["steady_state"]["before"]["ok"] is False


def test_the_embedded_target_over_tls_as_an_external_provider_aws_flows_included(tmp_path: Path) -> None:
    """`harness target --tls` (its own CA) reached as an external provider through the embedded proxy:
    the OIDC and the AWS faces, TLS on both hops, every journey ok."""
    port = free_port()
    issuer = f"https://{LOOPBACK}:{port}"
    secret = "it-Target-Secret-4rT9wQ2z"
    argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp_path / "t.db"), "--tls",
                        "--tls-dir", str(tmp_path / "tls"), "--seed-users", "3", "--device-interval-s", "1")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "IT_IDP_"))},
           "HARNESS_CLIENT_ID": "it-tls", "HARNESS_CLIENT_SECRET": secret}
    scenario = tmp_path / "target-tls.yaml"
    scenario.write_text(f"""name: embedded-target-as-external-tls
target:
  kind: external
  issuer: {issuer}
  aws_endpoint: {issuer}
  ca_bundle: {tmp_path / 'tls' / 'ca.pem'}
  client_id_env: IT_IDP_CLIENT_ID
  client_secret_env: IT_IDP_CLIENT_SECRET
  username_env: IT_IDP_USERNAME
  password_env: IT_IDP_PASSWORD
proxy: {{kind: embedded}}
load: {{users: 3, spawn_rate: 3, think_time_s: [0.05, 0.1]}}
flows:
  - {{flow: client_credentials}}
  - {{flow: authorization_code_pkce}}
  - {{flow: jwks_validation}}
  - {{flow: aws_device_login}}
  - {{flow: aws_credentials_refresh}}
retry: {{stop: {{after_attempt: 3}}, wait: {{fixed_s: 0.05}}}}
phases: [{{name: steady, duration_s: 7}}]
slos: [{{name: journeys, metric: availability, phases: [steady], at_least: 0.99}}]
""")
    with running_process(argv, log_dir=tmp_path / "logs", name="target", env=env):
        wait_https(f"{issuer}/healthz", tmp_path / "tls" / "ca.pem")
        run_env = {**env, "IT_IDP_CLIENT_ID": "it-tls", "IT_IDP_CLIENT_SECRET": secret,
                   "IT_IDP_USERNAME": "user0001", "IT_IDP_PASSWORD": "pw-user0001"}
        run_env.pop("HARNESS_CLIENT_ID")
        run_env.pop("HARNESS_CLIENT_SECRET")
        result = harness_run(scenario, tmp_path / "out", run_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path / "out")
    ops = read_records(run_dir / "records", "operations").to_pandas()
    journeys = ops[ops.step == JOURNEY_STEP]
    assert set(journeys.flow) == {"client_credentials", "authorization_code_pkce", "jwks_validation",
                                  "aws_device_login", "aws_credentials_refresh"}
    assert set(journeys.outcome) == {"ok"}, journeys.groupby(["flow", "outcome"]).size().to_dict()
    journal = json.loads((run_dir / "journal.json").read_text())
    (proxy,) = journal["services"]["proxy"]["proxies"]
    assert set(proxy["tls"]) == {"listen_tls", "upstream_tls"}
