"""The scenario's retry policy as tenacity objects. No retry loop of our own: tenacity runs it, we only
add the one strategy it lacks (honour the server's Retry-After), written in its own style."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity
from tenacity import RetryCallState
from tenacity.wait import wait_base

from harness.clients.breaker import Breakers
from harness.clients.budget import RetryBudget
from harness.scenario.model import Retry

T = TypeVar("T")


class wait_retry_after(wait_base):
    """Wait at least as long as the last response's Retry-After asked (capped), else as `fallback` says."""

    def __init__(self, fallback: wait_base, cap_s: float):
        self.fallback, self.cap_s = fallback, cap_s

    def __call__(self, retry_state: RetryCallState) -> float:
        base = self.fallback(retry_state)
        outcome = retry_state.outcome
        if outcome is None or outcome.failed:
            return base
        asked = getattr(outcome.result(), "retry_after_s", None)
        if asked is None:
            return base
        return max(base, min(float(asked), self.cap_s))


def build_wait(retry: Retry) -> wait_base:
    w = retry.wait
    if w.fixed_s is not None:
        return tenacity.wait_fixed(w.fixed_s)
    if w.exponential is not None:
        e = w.exponential
        return tenacity.wait_exponential(multiplier=e.initial_s, exp_base=e.multiplier, max=e.max_s)
    if w.exponential_jitter is not None:
        e = w.exponential_jitter
        # "full jitter" (AWS architecture blog): uniform in [0, min(max, initial * base**n)]
        return tenacity.wait_random_exponential(multiplier=e.initial_s, exp_base=e.multiplier, max=e.max_s)
    if w.random is not None:
        return tenacity.wait_random(w.random.min_s, w.random.max_s)
    return tenacity.wait_none()


def build_stop(retry: Retry) -> tenacity.stop.stop_base:
    stops: list[tenacity.stop.stop_base] = []
    if retry.stop.after_attempt is not None:
        stops.append(tenacity.stop_after_attempt(retry.stop.after_attempt))
    if retry.stop.after_delay_s is not None:
        # before_delay: do not start a sleep that would end past the budget
        stops.append(tenacity.stop_before_delay(retry.stop.after_delay_s))
    if not stops:
        return tenacity.stop_after_attempt(1)
    combined = stops[0]
    for s in stops[1:]:
        combined = combined | s
    return combined


@dataclass(frozen=True)
class RetryPolicy:
    """Everything a Caller needs to know about retrying, built once per scenario and load process: the
    circuit breakers and the retry budget it holds are shared by every user of the process, and so are
    the tenacity strategies (stateless), built here once rather than per call."""

    retry: Retry
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    breakers: Breakers | None = field(init=False, default=None, repr=False, compare=False)
    budget: RetryBudget | None = field(init=False, default=None, repr=False, compare=False)
    _retry_on: frozenset[str] = field(init=False, default=frozenset(), repr=False, compare=False)
    _prototype: tenacity.Retrying | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.retry.circuit_breaker is not None:
            object.__setattr__(self, "breakers", Breakers(self.retry.circuit_breaker))
        if self.retry.budget is not None:
            object.__setattr__(self, "budget", RetryBudget(self.retry.budget, self.clock))
        object.__setattr__(self, "_retry_on", frozenset(self.retry.retry_on))
        object.__setattr__(self, "_prototype", self._build())

    def guard(self, endpoint: str, attempt: Callable[[], T]) -> T | None:
        """Run one attempt through the endpoint's circuit breaker; None when the breaker refused it."""
        if self.breakers is None:
            return attempt()
        return self.breakers.call(endpoint, attempt, lambda r: getattr(r, "outcome", ""))

    def deposit(self) -> None:
        """One operation starts: it earns the budget its share of retries."""
        if self.budget is not None:
            self.budget.deposit()

    @property
    def connect_timeout_s(self) -> float:
        return self.retry.timeout_s.connect

    @property
    def read_timeout_s(self) -> float:
        return self.retry.timeout_s.read

    def wants_retry(self, result: Any) -> bool:
        """tenacity's retry predicate: the outcome is one to retry and not a final protocol answer."""
        return result.outcome in self._retry_on and not getattr(result, "final", False)

    def retrying(self, sleep: Callable[[float], Any] | None = None, **changes: Any) -> tenacity.Retrying:
        """A fresh tenacity.Retrying (they hold per-call state), copied from the one built at start.
        Attempts return results, never raise, so the predicate looks at the result's outcome."""
        assert self._prototype is not None
        if sleep is not None:
            changes["sleep"] = sleep
        return self._prototype.copy(**changes)

    def resume(self, first: T, took_s: float, attempt: Callable[[], T],
               sleep: Callable[[float], Any] | None = None) -> tuple[T, float]:
        """Let tenacity run an operation whose first attempt was made before any Retrying was needed (the
        common case, a success, never builds one): tenacity gets `first` as its attempt 1, with its start
        dated back by `took_s` so that stop-after-delay still counts it. (last result, seconds slept)."""
        pending = [first]

        def replay_then_attempt() -> T:
            return pending.pop() if pending else attempt()

        def started_earlier(retry_state: RetryCallState) -> None:
            retry_state.start_time -= took_s

        retrying = self.retrying(sleep, before=started_earlier)
        last: T = retrying(replay_then_attempt)
        return last, float(retrying.statistics.get("idle_for", 0.0))

    def _build(self) -> tenacity.Retrying:
        wait = build_wait(self.retry)
        if self.retry.respect_retry_after:
            wait = wait_retry_after(wait, self.retry.max_retry_after_s)
        stop = build_stop(self.retry)
        if self.budget is not None:
            stop = stop | stop_when_budget_spent(self.budget)
        return tenacity.Retrying(
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_result(self.wants_retry),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            reraise=False,
        )


class stop_when_budget_spent(tenacity.stop.stop_base):
    """Stop when the process's retry budget has no retry left; takes one when it lets a retry happen.
    Put it last in a `|` chain: tenacity evaluates stops in order and stops at the first that says so."""

    def __init__(self, budget: RetryBudget):
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.budget.try_withdraw()


AUTHORIZATION_PENDING = "authorization_pending"
SLOW_DOWN = "slow_down"
KEEP_POLLING = frozenset({AUTHORIZATION_PENDING, SLOW_DOWN})
SLOW_DOWN_STEP_S = 5.0  # RFC 8628 3.5, and botocore's SSOTokenFetcher._SLOW_DOWN_DELAY


class wait_poll_interval(wait_base):
    """RFC 8628 3.5: poll every `interval_s`; each slow_down adds 5 s for this and all later polls."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed and getattr(outcome.result(), "reason", "") == SLOW_DOWN:
            self.interval_s += SLOW_DOWN_STEP_S
        return self.interval_s


class stop_before_idle(tenacity.stop.stop_base):
    """Stop before the time spent sleeping would reach `max_idle_s` (counts injected sleeps too)."""

    def __init__(self, max_idle_s: float):
        self.max_idle_s = max_idle_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + (retry_state.upcoming_sleep or 0.0) >= self.max_idle_s


def poll_retrying(
    interval_s: float | None,
    expires_in_s: float,
    sleep: Callable[[float], Any],
    before_sleep: Callable[[RetryCallState], Any] | None = None,
) -> tenacity.Retrying:
    """Device-code polling as tenacity runs it: the first poll at once (as the AWS CLI does), then every
    interval (5 s when the server gave none, RFC 8628 3.2) while the answer is authorization_pending or
    slow_down, and never past the device code's lifetime. Each poll is a Caller.call with its own retries
    for transport failures; this loop only sees their final results."""
    kwargs: dict[str, Any] = {}
    if before_sleep is not None:
        kwargs["before_sleep"] = before_sleep
    return tenacity.Retrying(
        stop=tenacity.stop_before_delay(expires_in_s) | stop_before_idle(expires_in_s),
        wait=wait_poll_interval(5.0 if interval_s is None else interval_s),
        retry=tenacity.retry_if_result(lambda r: getattr(r, "reason", "") in KEEP_POLLING),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        sleep=sleep,
        reraise=False,
        **kwargs,
    )
