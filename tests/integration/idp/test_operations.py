"""The rest of a real service, through a real process: the chaos control API (key rotation, clock skew,
forced errors, store slowness), the per-client rate limit, TLS, and restarts that lose nothing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.helpers import LOOPBACK, free_port, harness_argv, running_process, stop_process

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENV,
    PUBLIC_CLIENT_ID,
    START_URL,
    Target,
    pkce_pair,
    start_target,
)

pytestmark = pytest.mark.integration
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def cc_token(target: Target, **kwargs: Any) -> requests.Response:
    return requests.post(f"{target.base}/token", data={"grant_type": "client_credentials"},
                         auth=(CLIENT_ID, CLIENT_SECRET), timeout=10, **kwargs)


def kids(target: Target) -> set[str]:
    return {k["kid"] for k in requests.get(f"{target.base}/.well-known/jwks.json", timeout=5).json()["keys"]}


def signing_kid(target: Target) -> str:
    kid: str = jwt.get_unverified_header(cc_token(target).json()["access_token"])["kid"]
    return kid


def user_tokens(target: Target, username: str = "user0001") -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:7000/callback"
    answer = target.login_code({"response_type": "code", "client_id": PUBLIC_CLIENT_ID, "redirect_uri": redirect,
                                "scope": "openid offline_access", "code_challenge": challenge,
                                "code_challenge_method": "S256"}, username=username)
    response = requests.post(f"{target.base}/token", timeout=5, data={
        "grant_type": "authorization_code", "code": answer["code"], "code_verifier": verifier,
        "redirect_uri": redirect, "client_id": PUBLIC_CLIENT_ID})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def userinfo_status(target: Target, token: str) -> int:
    return requests.get(f"{target.base}/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code


def poll_until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


# -- chaos API -----------------------------------------------------------------------------------------

def test_abrupt_key_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(target: Target) -> None:
    old_kid = signing_kid(target)
    old_token = user_tokens(target)["access_token"]
    answer = target.chaos("POST", "/keys/rotate", {"publish_lead_s": 0}).json()
    new_kid = answer["kid"]
    assert new_kid != old_kid and {old_kid, new_kid} <= kids(target)
    assert signing_kid(target) == new_kid
    assert userinfo_status(target, old_token) == 200  # tokens signed before the rotation stay good


def test_polite_key_rotation_publishes_before_it_signs(target: Target) -> None:
    old_kid = signing_kid(target)
    new_kid = target.chaos("POST", "/keys/rotate", {"publish_lead_s": 2}).json()["kid"]
    assert new_kid in kids(target) and signing_kid(target) == old_kid
    poll_until(lambda: signing_kid(target) == new_kid)
    assert old_kid in kids(target)


def test_clock_skew_shifts_issued_claims_only(target: Target) -> None:
    assert target.chaos("PUT", "/clock_skew", {"skew_s": -600}).json()["clock_skew_s"] == -600
    token = cc_token(target).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert abs(claims["iat"] - (time.time() - 600)) < 5
    assert userinfo_status(target, user_tokens(target)["access_token"]) == 200  # the target itself is not fooled


def test_forced_errors_per_endpoint(target: Target) -> None:
    rule = {"endpoint": "token", "status": 503, "probability": 1.0, "retry_after_s": 2}
    state = target.chaos("PUT", "/errors", rule).json()
    assert state["errors"]["token"]["status"] == 503
    failed = cc_token(target)
    assert failed.status_code == 503 and failed.headers["retry-after"] == "2"
    assert failed.json()["error"] == "temporarily_unavailable"
    assert requests.get(f"{target.base}/.well-known/jwks.json", timeout=5).status_code == 200  # other endpoints
    assert target.chaos("DELETE", "/errors?endpoint=token").json()["errors"] == {}
    assert cc_token(target).status_code == 200


def test_store_slowness_delays_store_backed_requests(target: Target) -> None:
    target.chaos("PUT", "/store_latency", {"latency_ms": 300})
    started = time.perf_counter()
    assert cc_token(target).status_code == 200
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    requests.get(f"{target.base}/.well-known/openid-configuration", timeout=5)
    assert time.perf_counter() - started < 0.25
    assert target.chaos("POST", "/reset").json()["store_latency_ms"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/clock_skew", {"skew_s": "soon"}),
        ("PUT", "/errors", {"endpoint": "nowhere", "status": 503}),
        ("PUT", "/errors", {"endpoint": "token", "status": 200}),
        ("PUT", "/errors", {"endpoint": "token", "probability": 2}),
        ("PUT", "/store_latency", {"latency_ms": -1}),
        ("PUT", "/device", {"interval_s": -5}),
        ("POST", "/keys/rotate", {"alg": "HS256"}),
    ],
)
def test_chaos_api_refuses_bad_input(target: Target, method: str, path: str, body: dict[str, Any]) -> None:
    response = target.chaos(method, path, body)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


# -- rate limit, chaos API off, TLS -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    env = {k: v for k, v in ENV.items() if k != "HARNESS_TARGET_ADMIN_TOKEN"}
    with start_target(tmp_path_factory.mktemp("limited"), "--rate-limit-per-client", "2", name="limited",
                      env=env) as server:
        yield server


def test_rate_limit_answers_429_with_retry_after(limited: Target) -> None:
    statuses = [cc_token(limited) for _ in range(4)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    assert statuses[-1].status_code == 429 and int(statuses[-1].headers["retry-after"]) >= 1


def test_rate_limit_is_slow_down_on_aws_oidc_and_too_many_requests_on_the_portal(limited: Target) -> None:
    oidc, sso = limited.sso_oidc(), limited.sso()
    client = oidc.register_client(clientName="rl", clientType="public")
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    auth = oidc.start_device_authorization(**ids, startUrl=START_URL)
    limited.approve(auth["userCode"])
    token = oidc.create_token(**ids, grantType=DEVICE, deviceCode=auth["deviceCode"])
    with pytest.raises(oidc.exceptions.SlowDownException):
        oidc.create_token(**ids, grantType="refresh_token", refreshToken=token["refreshToken"])
    with pytest.raises(sso.exceptions.TooManyRequestsException):
        for _ in range(4):
            sso.list_accounts(accessToken=token["accessToken"])


def test_chaos_api_is_off_without_an_admin_token(limited: Target) -> None:
    assert requests.get(f"{limited.base}/chaos", timeout=5).status_code == 404
    assert requests.post(f"{limited.base}/chaos/keys/rotate", json={}, timeout=5,
                         headers={"Authorization": "Bearer anything"}).status_code == 404


def test_tls_with_a_generated_ca(tmp_path: Path) -> None:
    port = free_port()
    argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp_path / "t.sqlite3"),
                        "--tls", "--seed-users", "1")
    with running_process(argv, log_dir=tmp_path / "logs", name="tls", env=ENV) as process:
        ca = wait_for_ca(tmp_path / "logs" / "tls.err", process)
        base = f"https://{LOOPBACK}:{port}"
        poll_until(lambda: _https_ok(f"{base}/healthz", ca), timeout_s=20)
        doc = requests.get(f"{base}/.well-known/openid-configuration", verify=str(ca), timeout=5).json()
        assert doc["issuer"] == base and doc["token_endpoint"].startswith("https://")
        response = requests.post(f"{base}/token", data={"grant_type": "client_credentials"},
                                 auth=(CLIENT_ID, CLIENT_SECRET), verify=str(ca), timeout=5)
        assert response.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{base}/healthz", timeout=5)  # untrusted without the CA


def wait_for_ca(log: Path, process: subprocess.Popen[bytes]) -> Path:
    found: list[Path] = []

    def printed() -> bool:
        assert process.poll() is None, "target exited"
        match = re.search(r"TLS CA certificate at (\S+)", log.read_text() if log.exists() else "")
        if match:
            found.append(Path(match.group(1)))
        return bool(match)

    poll_until(printed, timeout_s=20)
    return found[0]


def _https_ok(url: str, ca: Path) -> bool:
    with contextlib.suppress(requests.exceptions.ConnectionError):
        return requests.get(url, verify=str(ca), timeout=2).status_code == 200
    return False


# -- restarts ---------------------------------------------------------------------------------------------

def test_a_restart_loses_no_client_user_session_or_token(tmp_path: Path) -> None:
    port = free_port()
    browser = requests.Session()
    with start_target(tmp_path, name="before", port=port) as first:
        tokens = user_tokens(first)
        oidc = first.sso_oidc()
        client = oidc.register_client(clientName="restart", clientType="public")
        ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
        auth = oidc.start_device_authorization(**ids, startUrl=START_URL)
        first.approve(auth["userCode"], username="user0009")
        aws = oidc.create_token(**ids, grantType=DEVICE, deviceCode=auth["deviceCode"])
        browser.post(f"{first.base}/login", data={"username": "user0002", "password": "pw-user0002"})
        first.chaos("PUT", "/clock_skew", {"skew_s": 5})
        pending = oidc.start_device_authorization(**ids, startUrl=START_URL)

    with start_target(tmp_path, name="after", port=port) as second:
        assert userinfo_status(second, tokens["access_token"]) == 200
        refreshed = requests.post(f"{second.base}/token", timeout=5, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT_ID})
        assert refreshed.status_code == 200
        sso = second.sso()
        assert len(sso.list_accounts(accessToken=aws["accessToken"])["accountList"]) == 4
        oidc = second.sso_oidc()
        assert oidc.create_token(**ids, grantType="refresh_token", refreshToken=aws["refreshToken"])["accessToken"]
        second.approve(pending["userCode"])  # a device authorization started before the restart completes
        assert oidc.create_token(**ids, grantType=DEVICE, deviceCode=pending["deviceCode"])["accessToken"]
        _, challenge = pkce_pair()
        again = browser.get(f"{second.base}/authorize", allow_redirects=False, params={
            "response_type": "code", "client_id": PUBLIC_CLIENT_ID, "redirect_uri": "http://127.0.0.1:1/callback",
            "code_challenge": challenge, "code_challenge_method": "S256"})
        assert again.status_code == 302 and "code=" in again.headers["location"]  # the session survived
        assert second.chaos("GET", "").json()["clock_skew_s"] == 5  # so did the chaos state


def test_a_stopped_target_exits_cleanly(tmp_path: Path) -> None:
    port = free_port()
    argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp_path / "t.sqlite3"))
    with running_process(argv, log_dir=tmp_path / "logs", name="stop", env=ENV,
                         ready_url=f"http://{LOOPBACK}:{port}/healthz") as process:
        assert stop_process(process) in (0, -15)
    assert "Traceback" not in (tmp_path / "logs" / "stop.err").read_text()


def test_chaos_reaches_every_worker(tmp_path: Path) -> None:
    with start_target(tmp_path, "--workers", "2", name="workers") as server:
        rule = {"endpoint": "token", "status": 503, "probability": 1.0}
        assert server.chaos("PUT", "/errors", rule).status_code == 200

        def all_fail() -> bool:  # a fresh connection per request, so both workers answer some
            return all(cc_token(server).status_code == 503 for _ in range(20))

        poll_until(all_fail)
        server.chaos("POST", "/reset")
        poll_until(lambda: all(cc_token(server).status_code == 200 for _ in range(20)))
        new_kid = server.chaos("POST", "/keys/rotate", {"publish_lead_s": 0}).json()["kid"]
        poll_until(lambda: all(signing_kid(server) == new_kid for _ in range(20)))


def test_audit_log_has_the_events_and_no_secret(target: Target) -> None:
    tokens = user_tokens(target, username="user0011")
    requests.post(f"{target.base}/login", data={"username": "user0011", "password": "wrong-pw"}, timeout=5)
    oidc = target.sso_oidc()
    client = oidc.register_client(clientName="audit", clientType="public")
    auth = oidc.start_device_authorization(clientId=client["clientId"], clientSecret=client["clientSecret"],
                                           startUrl=START_URL)
    target.approve(auth["userCode"], username="user0011")
    aws = oidc.create_token(clientId=client["clientId"], clientSecret=client["clientSecret"], grantType=DEVICE,
                            deviceCode=auth["deviceCode"])
    target.sso().get_role_credentials(accessToken=aws["accessToken"], accountId="111111111111",
                                      roleName="ReadOnlyAccess")
    requests.post(f"{target.base}/revoke", data={"token": tokens["refresh_token"], "client_id": PUBLIC_CLIENT_ID},
                  timeout=5)
    log = target.tmp / "audit.jsonl"

    def flushed() -> bool:
        return log.exists() and "token_revoked" in log.read_text()

    poll_until(flushed, timeout_s=5)  # the buffer is flushed every second
    text = log.read_text()
    assert '"request_id":"' in text
    for event in ("token_issued", "login", "login_failed", "client_registered", "device_approved",
                  "credentials_fetched", "token_revoked"):
        assert f'"event":"{event}"' in text, event
    # a live user code approves a device for whoever types it first: the log keeps a hash prefix of it
    user_code = auth["userCode"]
    for secret in (CLIENT_SECRET, client["clientSecret"], tokens["access_token"], tokens["refresh_token"],
                   aws["accessToken"], aws["refreshToken"], auth["deviceCode"], "pw-user0011", "wrong-pw",
                   user_code, user_code.replace("-", "")):
        assert secret not in text
    prefix = hashlib.sha256(user_code.encode()).hexdigest()[:12]
    approved = [json.loads(line) for line in text.splitlines() if '"event":"device_approved"' in line]
    assert any(line.get("user_code_sha256") == prefix for line in approved), approved
