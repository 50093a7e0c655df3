"""Circuit breaker, retry budget, AWS error forms and RFC 8628 polling, with no socket and no sleep."""

from __future__ import annotations

from collections.abc import Sequence

import requests

from harness.clients import Caller, RetryPolicy
from harness.clients.budget import RetryBudget
from harness.clients.classify import error_code
from harness.clients.policy import poll_retrying
from harness.scenario.model import CircuitBreaker, Retry, RetryStop, RetryWait
from harness.scenario.model import RetryBudget as BudgetSpec
from tests.unit.clients.fakes import FakeTime, ListSink, Scripted, Step, scripted_session


def caller_for(script: Sequence[Step], retry: Retry
               ) -> tuple[Caller, ListSink, FakeTime, list[requests.PreparedRequest]]:
    session, adapter = scripted_session(script)
    sink, fake = ListSink(), FakeTime()
    caller = Caller(session, RetryPolicy(retry, clock=fake.clock), sink, user="u", node="n", phase=lambda: "p",
                    clock=fake.clock, perf=fake.clock, sleep=fake.sleep)
    return caller, sink, fake, adapter.requests


def response(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code, r._content = status, body
    r.headers.update(headers or {})
    return r


def test_breaker_opens_after_fail_max_and_refuses_without_sending() -> None:
    retry = Retry(stop=RetryStop(after_attempt=1), wait=RetryWait(),
                  circuit_breaker=CircuitBreaker(fail_max=2, reset_timeout_s=60))
    caller, sink, _, sent = caller_for([503, 503, 200], retry)
    outcomes = [caller.call("f", "s", "GET", "http://idp/token", endpoint="token").outcome for _ in range(3)]
    assert outcomes == ["http_5xx", "http_5xx", "circuit_open"]
    assert len(sent) == 2 and len(sink.attempts) == 2  # the refused call sent nothing
    assert sink.operations[-1]["attempts"] == 0
    caller.policy.breakers.get("token").half_open()  # type: ignore[union-attr]
    assert caller.call("f", "s", "GET", "http://idp/token", endpoint="token").ok  # the trial call closes it


def test_breaker_is_per_endpoint() -> None:
    retry = Retry(stop=RetryStop(after_attempt=1), wait=RetryWait(), circuit_breaker=CircuitBreaker(fail_max=1))
    caller, _, _, _ = caller_for([503, 200], retry)
    caller.call("f", "s", "GET", "http://idp/token", endpoint="token")
    assert caller.call("f", "s", "GET", "http://idp/jwks", endpoint="jwks").ok


def test_retry_budget_caps_retries_to_a_fraction_of_requests() -> None:
    fake = FakeTime()
    budget = RetryBudget(BudgetSpec(ratio=0.5, min_retries_per_s=0, window_s=10), clock=fake.clock)
    for _ in range(4):
        budget.deposit()
    assert [budget.try_withdraw() for _ in range(3)] == [True, True, False]
    fake.now += 11  # the window forgets old requests and retries
    assert not budget.try_withdraw()


def test_budget_stops_retries_in_the_caller() -> None:
    retry = Retry(stop=RetryStop(after_attempt=5), wait=RetryWait(),
                  budget=BudgetSpec(ratio=0.0, min_retries_per_s=0.1, window_s=10))  # one retry in all
    caller, _, _, _ = caller_for([503] * 10, retry)
    first = caller.call("f", "s", "GET", "http://idp/x", endpoint="x")
    second = caller.call("f", "s", "GET", "http://idp/x", endpoint="x")
    assert (first.attempts, second.attempts) == (2, 1)


def test_aws_error_forms_as_botocore_reads_them() -> None:
    hdr = {"x-amzn-ErrorType": "AuthorizationPendingException:http://internal.amazon.com/coral/x/"}
    assert error_code(response(400, b'{"error": "authorization_pending"}', hdr), aws=True) == "authorization_pending"
    body = b'{"__type": "com.amazonaws.sso.oidc#SlowDownException", "error": "slow_down"}'
    assert error_code(response(400, body), aws=True) == "slow_down"
    # a plain OAuth body is no AWS error at all: the real CLI dies on it
    assert error_code(response(400, b'{"error": "authorization_pending"}'), aws=True) == ""
    assert error_code(response(400, b'{"error": "authorization_pending"}')) == "authorization_pending"
    assert error_code(response(400, b'{"error": "<script>evil</script>"}')) == ""  # only identifiers reach records


def test_device_polling_first_at_once_then_interval_plus_5_per_slow_down() -> None:
    pending: Scripted = (400, {}, b'{"error": "authorization_pending"}')
    slow: Scripted = (400, {}, b'{"error": "slow_down"}')
    token: Scripted = (200, {}, b'{"access_token": "a.b.c", "token_type": "Bearer"}')
    caller, sink, fake, _ = caller_for([pending, slow, pending, token],
                                       Retry(stop=RetryStop(after_attempt=3), wait=RetryWait(fixed_s=1),
                                             retry_on=("http_429", "http_5xx")))
    errors = {"authorization_pending": "ok", "slow_down": "http_429"}
    with caller.journey("device_authorization") as journey:
        result = poll_retrying(2, 600, sleep=caller.wait)(
            lambda: caller.call("device_authorization", "poll", "POST", "http://idp/token", endpoint="token",
                                errors=errors, decides_journey=False))  # type: ignore[arg-type]
    assert result.ok and result.reason == ""
    assert fake.slept == [2, 7, 7]  # slow_down is not retried by the transport policy, and persists
    assert [a["outcome"] for a in sink.attempts] == ["ok", "http_429", "ok", "ok"]
    assert journey.ok and sink.operations[-1]["backoff_ms"] == 16_000


def test_polling_stops_when_the_device_code_expires() -> None:
    pending: Scripted = (400, {}, b'{"error": "authorization_pending"}')
    caller, _, fake, _ = caller_for([pending] * 10, Retry())
    result = poll_retrying(None, 12, sleep=caller.wait)(
        lambda: caller.call("d", "poll", "POST", "http://idp/token", endpoint="token",
                            errors={"authorization_pending": "ok"}))
    assert result.reason == "authorization_pending" and fake.slept == [5, 5]
