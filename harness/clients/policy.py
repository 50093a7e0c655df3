"""The scenario's retry policy as tenacity objects. No retry loop of our own: tenacity runs it, we only
add the one strategy it lacks (honour the server's Retry-After), written in its own style."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity
from tenacity import RetryCallState
from tenacity.wait import wait_base

from harness.scenario.model import Retry


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
    """Everything a Caller needs to know about retrying, built once per scenario."""

    retry: Retry

    @property
    def connect_timeout_s(self) -> float:
        return self.retry.timeout_s.connect

    @property
    def read_timeout_s(self) -> float:
        return self.retry.timeout_s.read

    def retrying(self, sleep: Callable[[float], Any] | None = None) -> tenacity.Retrying:
        """A fresh tenacity.Retrying (they hold per-call state). Attempts return results, never raise,
        so the predicate looks at the result's outcome."""
        retry_on = frozenset(self.retry.retry_on)
        wait = build_wait(self.retry)
        if self.retry.respect_retry_after:
            wait = wait_retry_after(wait, self.retry.max_retry_after_s)
        kwargs: dict[str, Any] = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        return tenacity.Retrying(
            stop=build_stop(self.retry),
            wait=wait,
            retry=tenacity.retry_if_result(lambda r: r.outcome in retry_on),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            reraise=False,
            **kwargs,
        )
