"""Flows against a real `harness target` process on loopback: only the journeys whose endpoints the
target serves today (client_credentials, jwks_validation). The others are covered by unit tests until
their endpoints land."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.clients import Caller, RetryPolicy
from harness.clients.flows import ClientCredentials, ClientCredentialsFlow, FlowContext, JwksValidationFlow
from harness.clients.provider import Provider
from harness.clients.transport import make_session
from harness.scenario.model import Retry, RetryStop, RetryWait
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process
from tests.unit.clients.fakes import ListSink

pytestmark = pytest.mark.integration

CLIENT_ID = "it-clients"
CLIENT_SECRET = "it-Clients-Secret-7hQ2vX9mKp3L"  # distinctive, so a leak is easy to grep for


@contextlib.contextmanager
def target(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp_path / "t.db"))
    env = {"HARNESS_CLIENT_ID": CLIENT_ID, "HARNESS_CLIENT_SECRET": CLIENT_SECRET}
    with running_process(argv, log_dir=tmp_path / "logs", name="target", env=env,
                         ready_url=f"http://{LOOPBACK}:{port}/healthz"):
        yield f"http://{LOOPBACK}:{port}"


def context(base_url: str) -> tuple[FlowContext, ListSink]:
    sink = ListSink()
    policy = RetryPolicy(Retry(stop=RetryStop(after_attempt=2), wait=RetryWait(fixed_s=0.01)))
    caller = Caller(make_session(), policy, sink, user="it", node="local", phase=lambda: "a")
    return FlowContext(caller, Provider.embedded(base_url), ClientCredentials(CLIENT_ID, CLIENT_SECRET)), sink


def test_client_credentials_and_jwks_validation_end_to_end(tmp_path: Path) -> None:
    with target(tmp_path) as base_url:
        ctx, sink = context(base_url)
        assert ClientCredentialsFlow(ctx).run()
        jwks_flow = JwksValidationFlow(ctx)
        assert jwks_flow.run() and jwks_flow.run()  # the second journey uses the cached JWKS
    steps = [(op["flow"], op["step"], op["outcome"]) for op in sink.operations]
    assert ("client_credentials", "journey", "ok") in steps
    verdicts = {a["step"]: (a["outcome"], a["error"]) for a in sink.attempts if a["method"] == "VERIFY"}
    assert verdicts["verify"] == ("ok", "valid")
    assert verdicts["verify_bad_signature"] == ("ok", "bad_signature")
    assert verdicts["verify_alg_none"] == ("ok", "alg_not_allowed")
    assert verdicts["verify_unknown_kid"] == ("ok", "unknown_kid")
    assert verdicts["verify_expired"] == ("ok", "expired")
    assert verdicts["verify_wrong_audience"] == ("ok", "wrong_audience")
    assert not [a for a in sink.attempts if a["outcome"] == "security_violation"]
    jwks_fetches = [a for a in sink.attempts if a["endpoint"] == "jwks" and a["method"] == "GET"]
    assert len(jwks_fetches) == 1  # an unknown kid refetches at most every min_refetch_s, never per token
    assert CLIENT_SECRET not in repr(sink.attempts + sink.operations)


def test_relying_party_fails_closed_when_jwks_is_unreachable(tmp_path: Path) -> None:
    with target(tmp_path) as base_url:
        ctx, sink = context(base_url)
        assert ctx.provider.discover(ctx.caller, "setup")
        ctx.provider.endpoints["jwks"] = f"http://{LOOPBACK}:{free_port()}/jwks"  # nothing listens there
        assert not JwksValidationFlow(ctx).run()
    (verdict,) = [a for a in sink.attempts if a["method"] == "VERIFY"]
    assert (verdict["outcome"], verdict["error"]) == ("connect_error", "jwks_unavailable")
    journey = sink.operations[-1]
    assert (journey["step"], journey["outcome"]) == ("journey", "connect_error")
