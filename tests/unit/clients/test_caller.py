"""A Caller against a scripted transport: records per attempt and per operation, backoff, no secrets."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import requests

from harness.clients import Caller, RetryPolicy
from harness.clients.caller import OP_ID_HEADER, parse_retry_after
from harness.clients.flows import ClientCredentials, ClientCredentialsFlow, FlowContext
from harness.clients.provider import Provider
from harness.scenario.model import Retry, RetryStop, RetryWait
from tests.unit.clients.fakes import FakeTime, ListSink, Step, scripted_session

TOKEN_BODY = b'{"access_token": "aaa.bbb.ccc", "token_type": "Bearer", "expires_in": 300}'
DISCOVERY: tuple[int, dict[str, str], bytes] = (200, {}, b'{"issuer": "http://idp", "token_endpoint": "http://idp/token"}')


def make_caller(script: Sequence[Step], retry: Retry | None = None
                ) -> tuple[Caller, ListSink, FakeTime, list[requests.PreparedRequest]]:
    session, adapter = scripted_session(script)
    sink, fake = ListSink(), FakeTime()
    policy = RetryPolicy(retry or Retry(stop=RetryStop(after_attempt=4), wait=RetryWait(fixed_s=0.5)))
    caller = Caller(session, policy, sink, user="u1", node="local", phase=lambda: "brownout",
                    clock=fake.clock, perf=fake.clock, sleep=fake.sleep)
    return caller, sink, fake, adapter.requests


def test_retried_operation_counts_attempts_and_backoff() -> None:
    caller, sink, fake, sent = make_caller([503, 503, (200, {}, TOKEN_BODY)])
    result = caller.call("client_credentials", "token", "POST", "http://idp/token", endpoint="token")
    assert (result.outcome, result.attempts) == ("ok", 3)
    assert [a["outcome"] for a in sink.attempts] == ["http_5xx", "http_5xx", "ok"]
    assert [a["attempt"] for a in sink.attempts] == [1, 2, 3]
    assert fake.slept == [0.5, 0.5]
    (op,) = sink.operations
    assert op["attempts"] == 3 and op["backoff_ms"] == 1000.0
    assert op["latency_ms"] >= op["backoff_ms"]  # end to end includes the waiting
    assert {a["op_id"] for a in sink.attempts} == {op["op_id"]}
    assert all(r.headers[OP_ID_HEADER] == op["op_id"] for r in sent)
    assert op["phase"] == "brownout" and op["intended_ts"] is None


def test_retry_after_is_honoured() -> None:
    caller, _, fake, _ = make_caller([(503, {"Retry-After": "2"}, b"{}"), 200])
    caller.call("f", "s", "GET", "http://idp/x", endpoint="x")
    assert fake.slept == [2.0]


def test_exceptions_become_outcomes_and_are_retried() -> None:
    caller, sink, _, _ = make_caller([requests.exceptions.ReadTimeout(), requests.exceptions.ConnectionError(), 200])
    result = caller.call("f", "s", "GET", "http://idp/x", endpoint="x")
    assert result.ok
    assert [a["outcome"] for a in sink.attempts] == ["timeout", "connect_error", "ok"]
    assert [a["status"] for a in sink.attempts] == [0, 0, 200]
    assert sink.attempts[0]["error"] == "ReadTimeout"


def test_gives_up_after_the_attempt_budget() -> None:
    caller, sink, _, _ = make_caller([503] * 10, Retry(stop=RetryStop(after_attempt=3), wait=RetryWait()))
    result = caller.call("f", "s", "GET", "http://idp/x", endpoint="x")
    assert (result.outcome, result.attempts, len(sink.attempts)) == ("http_5xx", 3, 3)
    assert sink.operations[0]["outcome"] == "http_5xx"


def test_open_loop_latency_counts_from_the_intended_start() -> None:
    caller, sink, fake, _ = make_caller([200])
    caller.call("f", "s", "GET", "http://idp/x", endpoint="x", intended_ts=fake.now - 1.5)
    assert sink.operations[0]["latency_ms"] >= 1500


def test_client_credentials_flow_sends_basic_auth_and_records_no_secret() -> None:
    caller, sink, _, sent = make_caller([DISCOVERY, (200, {}, TOKEN_BODY)])
    flow = ClientCredentialsFlow(FlowContext(caller, Provider.embedded("http://idp"),
                                             ClientCredentials("cid", "s3cret-value")))
    assert flow.run()
    sent = sent[1:]
    assert sent[0].headers["Authorization"].startswith("Basic ")
    body = sent[0].body or ""
    assert "grant_type=client_credentials" in (body.decode() if isinstance(body, bytes) else body)
    assert "s3cret-value" not in repr(sink.attempts + sink.operations)
    assert "aaa.bbb.ccc" not in repr(sink.attempts + sink.operations)
    assert "s3cret-value" not in repr(flow.ctx)


def test_malformed_token_response_is_a_protocol_error_not_a_crash() -> None:
    caller, sink, _, _ = make_caller(
        [DISCOVERY, (200, {}, b"<html>gateway</html>"), (200, {}, b'{"token_type": "Bearer"}'), (200, {}, TOKEN_BODY)],
        Retry(stop=RetryStop(after_attempt=3), wait=RetryWait(), retry_on=("protocol_error",)),
    )
    flow = ClientCredentialsFlow(FlowContext(caller, Provider.embedded("http://idp"), ClientCredentials("cid", "x")))
    assert flow.run()
    assert [a["outcome"] for a in sink.attempts] == ["ok", "protocol_error", "protocol_error", "ok"]
    journey = sink.operations[-1]
    assert (journey["step"], journey["attempts"], journey["outcome"]) == ("journey", 4, "ok")
    assert all(op["op_id"].startswith(journey["op_id"] + ".") for op in sink.operations[:-1])


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3", now=0) == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after(None, now=0) is None


def test_a_first_attempt_success_never_builds_a_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    caller, sink, _, _ = make_caller([(200, {}, TOKEN_BODY)])

    def no_tenacity(*args: object, **kwargs: object) -> None:
        raise AssertionError("tenacity is only for operations that need a retry")

    monkeypatch.setattr(RetryPolicy, "retrying", no_tenacity)
    result = caller.call("f", "token", "POST", "http://idp/token", endpoint="token")
    assert (result.outcome, result.attempts, result.backoff_ms) == ("ok", 1, 0.0)
    assert [op["attempts"] for op in sink.operations] == [1]


def test_a_final_protocol_answer_is_not_retried() -> None:
    caller, _, fake, _ = make_caller([(400, {}, b'{"error": "authorization_pending"}')])
    result = caller.call("f", "poll", "POST", "http://idp/token", endpoint="token",
                         errors={"authorization_pending": "ok"})
    assert (result.outcome, result.attempts, result.reason) == ("ok", 1, "authorization_pending")
    assert fake.slept == []


def test_op_ids_are_unique_per_user_and_steps_hang_off_their_journey() -> None:
    caller, sink, _, _ = make_caller([200, 200, 200])
    other, _, _, _ = make_caller([])
    caller.call("f", "a", "GET", "http://idp/a", endpoint="a")
    with caller.journey("f"):
        caller.call("f", "b", "GET", "http://idp/b", endpoint="b")
        caller.call("f", "c", "GET", "http://idp/c", endpoint="c")
    lone, first, second, journey = (op["op_id"] for op in sink.operations)
    assert "." not in lone and "." not in journey
    assert (first, second) == (f"{journey}.1", f"{journey}.2")
    assert len({lone, journey}) == 2
    assert other._new_op_id() not in (lone, journey)  # another user's prefix


def test_an_operation_belongs_to_the_phase_it_started_in() -> None:
    """Retries that run past a phase boundary must not move the operation into the next phase."""
    caller, sink, fake, _ = make_caller([503, 503, 200], Retry(stop=RetryStop(after_attempt=3),
                                                                wait=RetryWait(fixed_s=2.0)))
    start = fake.now
    caller.phase = lambda: "baseline" if fake.now < start + 1 else "brownout"
    caller.call("f", "s", "GET", "http://idp/x", endpoint="x")
    assert [a["phase"] for a in sink.attempts] == ["baseline", "brownout", "brownout"]
    assert sink.operations[0]["phase"] == "baseline"


def test_an_attempt_belongs_to_the_phase_it_was_sent_in_even_when_its_answer_comes_in_the_next() -> None:
    session, _ = scripted_session([503, 200])
    sink, fake = ListSink(), FakeTime()
    phases = iter(["baseline", "brownout", "brownout", "brownout"])  # the boundary passes during attempt 1
    policy = RetryPolicy(Retry(stop=RetryStop(after_attempt=4), wait=RetryWait(fixed_s=0.5)))
    caller = Caller(session, policy, sink, user="u1", node="local", phase=lambda: next(phases),
                    clock=fake.clock, perf=fake.clock, sleep=fake.sleep)
    caller.call("f", "token", "POST", "http://idp/token", endpoint="token")
    (op,) = sink.operations
    assert op["phase"] == "baseline"
    assert [a["phase"] for a in sink.attempts] == ["baseline", "brownout"]  # the retry was sent after it
