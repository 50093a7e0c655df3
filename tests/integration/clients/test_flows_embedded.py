"""Every flow against a real `harness target` process on loopback (one per module), checked through its
records: the step operations it made, one journey row per run adding them up, attempts behind each
operation, every outcome ok, and no secret of the exchanges in any record value."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from harness.clients.caller import JOURNEY_STEP, VERIFY_METHOD
from harness.clients.flows import (
    AuthorizationCodePkceFlow,
    AwsCredentialsRefreshFlow,
    AwsDeviceLoginFlow,
    ClientCredentialsFlow,
    DeviceAuthorizationFlow,
    Flow,
    JwksValidationFlow,
    RefreshTokenFlow,
    RevocationFlow,
    TokenIntrospectionFlow,
)
from harness.contract import OperationRow
from tests.helpers import LOOPBACK, free_port
from tests.integration.clients.conftest import Harness, user_context

pytestmark = pytest.mark.integration


def run_ok(flow: Flow, h: Harness, runs: int = 1) -> None:
    for _ in range(runs):
        journeys_before = len(journeys(h))
        assert flow.run(), failed_rows(h)
        assert len(journeys(h)) == journeys_before + 1


def journeys(h: Harness) -> list[OperationRow]:
    return [op for op in h.sink.operations if op["step"] == JOURNEY_STEP]


def failed_rows(h: Harness) -> list[tuple[str, str, Any, Any]]:
    return [(r["step"], r["outcome"], r["status"], r.get("error")) for r in h.rows() if r["outcome"] != "ok"]


def assert_records(h: Harness, flow: str, *, expect_steps: set[str], polls: bool = False) -> Counter[str]:
    """The records every journey must leave; returns how many step operations each step had."""
    steps = [op for op in h.sink.operations if op["step"] != JOURNEY_STEP]
    runs = [op for op in journeys(h) if op["flow"] == flow]
    assert runs and all(j["outcome"] == "ok" for j in runs)
    assert all(op["outcome"] == "ok" for op in steps), failed_rows(h)
    assert all(a["outcome"] == "ok" for a in h.sink.attempts), failed_rows(h)
    seen = Counter(op["step"] for op in steps)
    assert expect_steps <= set(seen), seen
    # each journey's op_id prefixes its steps; its attempts are the sum of theirs
    for journey in runs:
        mine = [op for op in steps if op["op_id"].startswith(journey["op_id"] + ".")]
        assert mine
        assert journey["attempts"] == sum(op["attempts"] for op in mine)
        assert journey["latency_ms"] >= max(op["latency_ms"] for op in mine)
        if polls:  # protocol waits (the poll interval) count as the journey's backoff
            assert journey["backoff_ms"] >= 900.0
    # every step operation has its attempts, numbered from 1
    by_op = Counter(a["op_id"] for a in h.sink.attempts)
    for op in steps:
        assert by_op[op["op_id"]] == op["attempts"] >= 1
    assert all(a["attempt"] >= 1 for a in h.sink.attempts)
    assert not h.leaked()
    assert len(h.secrets) > 2  # the scan saw the exchange's tokens, not only the configured secrets
    return seen


def test_client_credentials(target_url: str) -> None:
    h = user_context(target_url)
    run_ok(ClientCredentialsFlow(h.ctx), h)
    assert_records(h, "client_credentials", expect_steps={"discovery", "token", "introspect"})


def test_authorization_code_pkce(target_url: str) -> None:
    h = user_context(target_url, user_index=2)
    run_ok(AuthorizationCodePkceFlow(h.ctx), h, runs=2)
    seen = assert_records(h, "authorization_code_pkce",
                          expect_steps={"discovery", "authorize", "login", "token", "jwks", "id_token", "userinfo"})
    assert seen["login"] == 2 and seen["jwks"] == 1  # a new browser each journey; the JWKS is cached
    verdicts = [a for a in h.sink.attempts if a["method"] == VERIFY_METHOD]
    assert [v["error"] for v in verdicts] == ["valid", "valid"]


def test_refresh_token_with_rotation(target_url: str) -> None:
    h = user_context(target_url, user_index=3)
    h.ctx.rng.random = lambda: 1.0  # type: ignore[method-assign]  # never the reuse check here
    flow = RefreshTokenFlow(h.ctx)
    run_ok(flow, h)
    first = flow.refresh
    assert first is not None
    run_ok(flow, h, runs=2)
    assert flow.refresh not in (None, first)  # the target rotates refresh tokens
    # the login asks offline_access with prompt=consent: the target shows its consent screen even to its own
    # client, and the browser actor answers it as a person would
    seen = assert_records(h, "refresh_token", expect_steps={"login", "consent", "token", "refresh"})
    assert seen["refresh"] == 2 and seen["consent"] == 1


def test_refresh_token_reuse_is_refused(target_url: str) -> None:
    h = user_context(target_url, user_index=3)
    flow = RefreshTokenFlow(h.ctx)
    run_ok(flow, h)
    h.ctx.rng.random = lambda: 0.0  # type: ignore[method-assign]  # always check reuse
    run_ok(flow, h)
    assert flow.refresh is None  # after a reuse check the session starts over
    seen = assert_records(h, "refresh_token", expect_steps={"refresh", "refresh_reuse"})
    (reuse,) = [a for a in h.sink.attempts if a["step"] == "refresh_reuse"]
    assert (reuse["status"], reuse["outcome"]) == (400, "ok")
    assert seen["refresh_reuse"] == 1


def test_device_authorization(target_url: str) -> None:
    h = user_context(target_url, user_index=4)
    run_ok(DeviceAuthorizationFlow(h.ctx), h)
    seen = assert_records(h, "device_authorization",
                          expect_steps={"discovery", "device_authorization", "poll", "approve", "login"}, polls=True)
    assert seen["poll"] >= 2  # at once (pending), then after the browser approved
    (pending, *_) = [a for a in h.sink.attempts if a["step"] == "poll"]
    assert (pending["status"], pending["error"]) == (400, "HTTP 400 authorization_pending")


def test_aws_device_login(target_url: str) -> None:
    h = user_context(target_url, user_index=5)
    flow = AwsDeviceLoginFlow(h.ctx)
    run_ok(flow, h, runs=2)
    seen = assert_records(h, "aws_device_login", polls=True, expect_steps={
        "register", "device_authorization", "poll", "approve", "list_accounts", "list_account_roles",
        "role_credentials", "logout"})
    assert seen["register"] == 1  # RegisterClient is kept while its secret is valid, as the CLI does
    assert seen["logout"] == 2
    aws_rows = [a for a in h.sink.attempts if a["endpoint"] in ("register_client", "role_credentials")]
    assert aws_rows and all(a["status"] == 200 for a in aws_rows)


def test_aws_credentials_refresh(target_url: str) -> None:
    h = user_context(target_url, user_index=1)
    flow = AwsCredentialsRefreshFlow(h.ctx)
    run_ok(flow, h, runs=3)
    seen = assert_records(h, "aws_credentials_refresh", polls=False,
                          expect_steps={"register", "poll", "list_accounts", "role_credentials"})
    assert seen["role_credentials"] == 3 and seen["poll"] >= 2 and seen["register"] == 1
    assert flow.session is not None
    flow.session["expires_at"] = 0.0  # within the refresh window: CreateToken refresh_token, then credentials
    run_ok(flow, h)
    seen = assert_records(h, "aws_credentials_refresh", expect_steps={"refresh"})
    assert seen["role_credentials"] == 4


def test_jwks_validation(target_url: str) -> None:
    h = user_context(target_url)
    run_ok(JwksValidationFlow(h.ctx), h, runs=2)  # the second journey uses the cached JWKS
    verdicts = {a["step"]: (a["outcome"], a["error"]) for a in h.sink.attempts if a["method"] == VERIFY_METHOD}
    assert verdicts["verify"] == ("ok", "valid")
    assert verdicts["verify_bad_signature"] == ("ok", "bad_signature")
    assert verdicts["verify_alg_none"] == ("ok", "alg_not_allowed")
    assert verdicts["verify_unknown_kid"] == ("ok", "unknown_kid")
    assert verdicts["verify_expired"] == ("ok", "expired")
    assert verdicts["verify_wrong_audience"] == ("ok", "wrong_audience")
    seen = assert_records(h, "jwks_validation", expect_steps={"token", "jwks", "revoke", "verify_revoked"})
    assert seen["jwks"] == 1  # an unknown kid refetches at most every min_refetch_s, never per token


def test_token_introspection(target_url: str) -> None:
    h = user_context(target_url)
    run_ok(TokenIntrospectionFlow(h.ctx), h)
    assert_records(h, "token_introspection",
                   expect_steps={"token", "introspect", "introspect_forged", "introspect_alg_none"})


def test_revocation(target_url: str) -> None:
    h = user_context(target_url)
    run_ok(RevocationFlow(h.ctx), h)
    assert_records(h, "revocation", expect_steps={"token", "revoke", "introspect_revoked"})


def test_relying_party_fails_closed_when_jwks_is_unreachable(target_url: str) -> None:
    h = user_context(target_url)
    assert h.ctx.provider.discover(h.ctx.caller, "setup")
    h.ctx.provider.endpoints["jwks"] = f"http://{LOOPBACK}:{free_port()}/jwks"  # nothing listens there
    assert not JwksValidationFlow(h.ctx).run()
    genuine, *invalid = [a for a in h.sink.attempts if a["method"] == VERIFY_METHOD]
    assert (genuine["step"], genuine["outcome"], genuine["error"]) == ("verify", "connect_error", "jwks_unavailable")
    # with no keys to check against, every invalid token is still presented, and refused (fail closed)
    assert {a["step"] for a in invalid} >= {"verify_bad_signature", "verify_alg_none", "verify_expired"}
    assert {a["outcome"] for a in invalid} == {"ok"}
    journey = h.sink.operations[-1]
    assert (journey["step"], journey["outcome"]) == ("journey", "connect_error")
    assert not h.leaked()


def test_wrong_password_fails_the_journey_without_leaking_it(target_url: str) -> None:
    h = user_context(target_url, user_index=2)
    h.ctx.user = type(h.ctx.user)(h.ctx.user.username, "pw-wrong-Password-9")
    h.secrets.add("pw-wrong-Password-9")
    assert not AuthorizationCodePkceFlow(h.ctx).run()
    (journey,) = journeys(h)
    assert journey["outcome"] == "http_4xx"
    assert not h.leaked()
