"""Every OIDC flow of the harness against an independent, certified provider (node oidc-provider v9)
through the external-target path a scenario takes: `target: {kind: external}`, endpoints from discovery,
credentials from the environment variables the scenario names. What a user of the harness would see is
asserted: journeys ok, ID tokens verified against the provider's JWKS, revoked and forged tokens refused,
no secret in any record; then one `harness run` of the same scenario end to end."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.clients import Caller, RetryPolicy
from harness.clients.caller import JOURNEY_STEP, VERIFY_METHOD
from harness.clients.flows import (
    AuthorizationCodePkceFlow,
    ClientCredentials,
    DeviceAuthorizationFlow,
    JwksValidationFlow,
    RefreshTokenFlow,
    RevocationFlow,
    TokenIntrospectionFlow,
    flow_context,
)
from harness.clients.flows.client_credentials import ClientCredentialsFlow
from harness.records import read_records
from harness.scenario import load_scenario_text
from harness.scenario.model import ExternalTarget, Retry, RetryStop, RetryWait, Scenario
from tests.helpers import harness_argv
from tests.integration.clients.conftest import Harness, RecordingAdapter
from tests.integration.clients.oidc_provider import FIXTURE, OidcProvider, start_oidc_provider
from tests.integration.clients.test_flows_embedded import assert_records, failed_rows, journeys, run_ok
from tests.unit.clients.fakes import ListSink

pytestmark = pytest.mark.integration

SCENARIO = FIXTURE / "external.yaml"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with start_oidc_provider(tmp_path_factory.mktemp("oidc-provider")) as provider:
        yield provider


def scenario_text(idp: OidcProvider) -> str:
    return SCENARIO.read_text().replace("${ISSUER}", idp.issuer)


def scenario_env(idp: OidcProvider, scenario: Scenario) -> dict[str, str]:
    """The provider's credentials under the names the scenario gives (nothing else reaches the flows)."""
    target = scenario.target
    assert isinstance(target, ExternalTarget)
    return {target.client_id_env: idp.client_id, target.client_secret_env: idp.client_secret,
            target.username_env: idp.username, target.password_env: idp.password}


def external_context(idp: OidcProvider, *, password: str | None = None) -> Harness:
    scenario = load_scenario_text(scenario_text(idp), str(SCENARIO))
    environ = scenario_env(idp, scenario)
    if password is not None:
        assert isinstance(scenario.target, ExternalTarget)
        environ[scenario.target.password_env] = password
    secrets = {idp.client_secret, idp.password, *([password] if password else [])}
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", RecordingAdapter(secrets))
    sink = ListSink()
    policy = RetryPolicy(Retry(stop=RetryStop(after_attempt=3), wait=RetryWait(fixed_s=0.02)))
    caller = Caller(session, policy, sink, user="it-ext", node="local", phase=lambda: "steady")
    # base_url and the runtime's credentials are the embedded target's; an external target ignores both
    ctx = flow_context(scenario, caller, "http://127.0.0.1:9", ClientCredentials("unused", "unused"), environ)
    return Harness(ctx, sink, secrets)


def verdicts(h: Harness) -> dict[str, tuple[str, str]]:
    return {a["step"]: (a["outcome"], a["error"]) for a in h.sink.attempts if a["method"] == VERIFY_METHOD}


def test_discovery_finds_every_endpoint_the_flows_use(idp: OidcProvider) -> None:
    h = external_context(idp)
    provider = h.ctx.provider
    assert provider.discover(h.ctx.caller, "setup")
    assert provider.issuer == idp.issuer
    # oidc-provider's own paths (/auth, /me, /token/introspection...), none of them the embedded target's
    assert provider.endpoints == {
        "authorize": f"{idp.issuer}/auth", "token": f"{idp.issuer}/token", "jwks": f"{idp.issuer}/jwks",
        "userinfo": f"{idp.issuer}/me", "device_authorization": f"{idp.issuer}/device/auth",
        "introspection": f"{idp.issuer}/token/introspection", "revocation": f"{idp.issuer}/token/revocation",
        "end_session": f"{idp.issuer}/session/end",
    }


def test_client_credentials(idp: OidcProvider) -> None:
    h = external_context(idp)
    run_ok(ClientCredentialsFlow(h.ctx), h, runs=2)
    seen = assert_records(h, "client_credentials", expect_steps={"discovery", "token", "introspect"})
    assert seen["discovery"] == 1


def test_authorization_code_pkce(idp: OidcProvider) -> None:
    h = external_context(idp)
    run_ok(AuthorizationCodePkceFlow(h.ctx), h, runs=2)
    seen = assert_records(h, "authorization_code_pkce",
                          expect_steps={"authorize", "login", "consent", "token", "jwks", "id_token", "userinfo"})
    assert seen["login"] == 2 and seen["jwks"] == 1
    assert [v for v in verdicts(h).values()] == [("ok", "valid")]
    assert [a["error"] for a in h.sink.attempts if a["method"] == VERIFY_METHOD] == ["valid", "valid"]


def test_wrong_password_is_refused(idp: OidcProvider) -> None:
    h = external_context(idp, password="pw-wrong-Password-9")
    assert not AuthorizationCodePkceFlow(h.ctx).run()
    (journey,) = journeys(h)
    assert journey["outcome"] == "http_4xx"
    (login,) = [a for a in h.sink.attempts if a["step"] == "login"]
    assert login["status"] == 401
    assert not h.leaked()


def test_refresh_token_with_rotation_and_reuse_refused(idp: OidcProvider) -> None:
    h = external_context(idp)
    h.ctx.rng.random = lambda: 1.0  # type: ignore[method-assign]  # no reuse check yet
    flow = RefreshTokenFlow(h.ctx)
    run_ok(flow, h)
    first = flow.refresh
    assert first is not None, failed_rows(h)
    run_ok(flow, h, runs=2)
    assert flow.refresh not in (None, first)  # rotated
    h.ctx.rng.random = lambda: 0.0  # type: ignore[method-assign]  # now present the replaced one again
    run_ok(flow, h)
    assert flow.refresh is None
    seen = assert_records(h, "refresh_token", expect_steps={"login", "token", "refresh", "refresh_reuse"})
    assert seen["refresh"] == 3
    (reuse,) = [a for a in h.sink.attempts if a["step"] == "refresh_reuse"]
    assert (reuse["status"], reuse["outcome"]) == (400, "ok")  # invalid_grant: refused


def test_device_authorization(idp: OidcProvider) -> None:
    h = external_context(idp)
    run_ok(DeviceAuthorizationFlow(h.ctx), h)
    seen = assert_records(h, "device_authorization", polls=True,
                          expect_steps={"device_authorization", "poll", "approve", "login", "consent"})
    assert seen["poll"] >= 2
    (pending, *_) = [a for a in h.sink.attempts if a["step"] == "poll"]
    assert (pending["status"], pending["error"]) == (400, "HTTP 400 authorization_pending")


def test_jwks_validation_refuses_every_invalid_token(idp: OidcProvider) -> None:
    h = external_context(idp)
    run_ok(JwksValidationFlow(h.ctx), h, runs=2)
    seen_verdicts = verdicts(h)
    assert seen_verdicts == {
        "verify": ("ok", "valid"),
        "verify_bad_signature": ("ok", "bad_signature"),
        "verify_alg_none": ("ok", "alg_not_allowed"),
        "verify_unknown_kid": ("ok", "unknown_kid"),
        "verify_expired": ("ok", "expired"),
        "verify_wrong_audience": ("ok", "wrong_audience"),
    }
    assert not [a for a in h.sink.attempts if a["outcome"] == "security_violation"]  # unauthorized_accepted == 0
    seen = assert_records(h, "jwks_validation", expect_steps={"token", "jwks", "revoke"})
    assert seen["jwks"] == 1
    # the token was asked for the audience as an RFC 8707 resource, so it is a JWT for that API, and
    # oidc-provider does not revoke JWTs (RFC 7009 2.2.1): a correct answer, and no revoked check follows
    assert {a["error"] for a in h.sink.attempts if a["step"] == "revoke"} == {"HTTP 400 unsupported_token_type"}
    assert "verify_revoked" not in seen


def test_token_introspection_calls_forged_tokens_inactive(idp: OidcProvider) -> None:
    h = external_context(idp)
    run_ok(TokenIntrospectionFlow(h.ctx), h)
    seen = assert_records(h, "token_introspection", expect_steps={"token", "introspect", "introspect_forged"})
    assert "introspect_alg_none" not in seen  # an opaque token has no alg to strip


def test_revoked_token_is_refused(idp: OidcProvider) -> None:
    h = external_context(idp)
    run_ok(RevocationFlow(h.ctx), h)
    assert_records(h, "revocation", expect_steps={"token", "revoke", "introspect_revoked"})
    (after,) = [op for op in h.sink.operations if op["step"] == "introspect_revoked"]
    assert after["outcome"] == "ok"  # active: false; true would have been a security_violation


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_harness_run_against_the_external_provider(idp: OidcProvider, tmp_path: Path) -> None:
    scenario_file = tmp_path / "external.yaml"
    scenario_file.write_text(scenario_text(idp))
    scenario = load_scenario_text(scenario_file.read_text(), str(scenario_file))
    env = {**_clean_env(), **scenario_env(idp, scenario)}
    out = tmp_path / "reports"
    result = subprocess.run(harness_argv("run", str(scenario_file), "--out", str(out)), capture_output=True,
                            text=True, timeout=100, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {s["name"]: s["verdict"] for s in summary["slos"]} == {"journeys": "pass", "fail-closed": "pass"}
    ops = read_records(run_dir / "records", "operations").to_pylist()
    flows_ok = {op["flow"] for op in ops if op["step"] == JOURNEY_STEP and op["outcome"] == "ok"}
    assert flows_ok == {f.flow for f in scenario.flows}, sorted({(o["flow"], o["outcome"]) for o in ops})
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["services"]["target"] == {"kind": "external", "issuer": idp.issuer, "allow": []}
    texts = [p.read_bytes() for p in run_dir.rglob("*") if p.is_file()]
    for secret in (idp.client_secret, idp.password):
        assert not any(secret.encode() in t for t in texts)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "IT_IDP_"))}
