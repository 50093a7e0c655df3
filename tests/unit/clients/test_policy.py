"""The scenario's retry policy mapped onto tenacity, checked as pure functions of a retry state."""

from __future__ import annotations

import pytest
import tenacity

from harness.clients.caller import AttemptResult
from harness.clients.policy import RetryPolicy, build_stop, build_wait, wait_retry_after
from harness.scenario.model import ExponentialWait, RandomWait, Retry, RetryStop, RetryWait


def state(attempt: int, delay_s: float = 0.0, result: AttemptResult | None = None) -> tenacity.RetryCallState:
    rs = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
    rs.attempt_number = attempt
    rs.outcome_timestamp = rs.start_time + delay_s
    rs.outcome = tenacity.Future(attempt)
    rs.outcome.set_result(result or AttemptResult("http_5xx", 503, 1.0))
    return rs


def test_fixed_wait() -> None:
    assert build_wait(Retry(wait=RetryWait(fixed_s=0.25)))(state(3)) == 0.25


def test_exponential_wait_doubles_and_caps() -> None:
    wait = build_wait(Retry(wait=RetryWait(exponential=ExponentialWait(initial_s=0.1, max_s=0.5))))
    assert [round(wait(state(n)), 6) for n in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_exponential_jitter_stays_in_its_envelope() -> None:
    wait = build_wait(Retry(wait=RetryWait(exponential_jitter=ExponentialWait(initial_s=0.1, max_s=1.0))))
    for n, high in ((1, 0.1), (2, 0.2), (3, 0.4), (6, 1.0)):
        samples = [wait(state(n)) for _ in range(200)]
        assert min(samples) >= 0 and max(samples) <= high + 1e-9
        assert max(samples) > high / 2  # it really spreads


def test_random_wait() -> None:
    wait = build_wait(Retry(wait=RetryWait(random=RandomWait(min_s=0.2, max_s=0.3))))
    assert all(0.2 <= wait(state(1)) <= 0.3 for _ in range(50))


def test_no_strategy_means_no_wait() -> None:
    assert build_wait(Retry(wait=RetryWait()))(state(2)) == 0


def test_stop_after_attempt_or_delay_whichever_first() -> None:
    stop = build_stop(Retry(stop=RetryStop(after_attempt=4, after_delay_s=10)))
    assert not stop(state(3, delay_s=1))
    assert stop(state(4, delay_s=1))
    assert stop(state(2, delay_s=10.5))


def test_retry_after_wins_when_longer_and_is_capped() -> None:
    wait = wait_retry_after(tenacity.wait_fixed(0.1), cap_s=5)
    assert wait(state(1, result=AttemptResult("http_5xx", 503, 1.0, retry_after_s=2))) == 2
    assert wait(state(1, result=AttemptResult("http_5xx", 503, 1.0, retry_after_s=120))) == 5
    assert wait(state(1, result=AttemptResult("http_5xx", 503, 1.0))) == 0.1


def test_policy_retries_only_listed_outcomes() -> None:
    policy = RetryPolicy(Retry(stop=RetryStop(after_attempt=5), wait=RetryWait(fixed_s=0), retry_on=("http_5xx",)))
    results = iter([AttemptResult("http_5xx", 503, 1), AttemptResult("http_4xx", 400, 1), AttemptResult("ok", 200, 1)])
    calls = []

    def attempt() -> AttemptResult:
        r = next(results)
        calls.append(r.outcome)
        return r

    last = policy.retrying(sleep=lambda s: None)(attempt)
    assert calls == ["http_5xx", "http_4xx"]  # a 400 is final: retrying it cannot help
    assert last.outcome == "http_4xx"


@pytest.mark.parametrize("attempts", [1, 3])
def test_policy_gives_up_with_the_last_result_not_an_exception(attempts: int) -> None:
    policy = RetryPolicy(Retry(stop=RetryStop(after_attempt=attempts), wait=RetryWait(fixed_s=0)))
    count = 0

    def attempt() -> AttemptResult:
        nonlocal count
        count += 1
        return AttemptResult("http_5xx", 503, 1)

    last = policy.retrying(sleep=lambda s: None)(attempt)
    assert (count, last.outcome) == (attempts, "http_5xx")


def test_resume_counts_the_first_attempt_against_stop_after_delay() -> None:
    """The first attempt ran before tenacity was asked to retry: its time still counts in the delay."""
    policy = RetryPolicy(Retry(stop=RetryStop(after_attempt=3, after_delay_s=1.0), wait=RetryWait(fixed_s=0.1)))
    calls: list[int] = []

    def attempt() -> AttemptResult:
        calls.append(1)
        return AttemptResult("http_5xx", 503, 1.0)

    first = AttemptResult("http_5xx", 503, 1.0)
    last, slept_s = policy.resume(first, 5.0, attempt, sleep=lambda s: None)
    assert last is first and calls == [] and slept_s == 0.0
    last, slept_s = policy.resume(first, 0.0, attempt, sleep=lambda s: None)
    assert len(calls) == 2 and slept_s == pytest.approx(0.2)  # without that time: attempts 2 and 3


def test_the_retrying_is_a_fresh_copy_each_time() -> None:
    policy = RetryPolicy(Retry())
    assert policy.retrying() is not policy.retrying()
