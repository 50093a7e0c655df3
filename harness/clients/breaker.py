"""Circuit breakers per endpoint, shared by the users of one load process (pybreaker does the state
machine). Attempts never raise, so an attempt whose outcome is in `trip_on` is turned into an exception
inside the breaker's call only, for pybreaker to count."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pybreaker

from harness.scenario.model import CircuitBreaker as BreakerSpec

T = TypeVar("T")


class _Tripping(Exception):
    """Carries a failed attempt's result through pybreaker."""

    def __init__(self, result: object):
        super().__init__("attempt failed")
        self.result = result


class Breakers:
    def __init__(self, spec: BreakerSpec):
        self.spec = spec
        self._trip_on = frozenset(spec.trip_on)
        self._by_endpoint: dict[str, pybreaker.CircuitBreaker] = {}

    def get(self, endpoint: str) -> pybreaker.CircuitBreaker:
        breaker = self._by_endpoint.get(endpoint)
        if breaker is None:
            breaker = pybreaker.CircuitBreaker(
                fail_max=self.spec.fail_max,
                reset_timeout=self.spec.reset_timeout_s,
                success_threshold=self.spec.success_threshold,
                name=endpoint,
                throw_new_error_on_trip=False,
            )
            self._by_endpoint[endpoint] = breaker
        return breaker

    def call(self, endpoint: str, attempt: Callable[[], T], outcome_of: Callable[[T], str]) -> T | None:
        """The attempt's result, or None when the breaker refused to make it (no request was sent)."""

        def guarded() -> T:
            result = attempt()
            if outcome_of(result) in self._trip_on:
                raise _Tripping(result)
            return result

        try:
            return self.get(endpoint).call(guarded)
        except _Tripping as failed:
            return failed.result  # type: ignore[return-value]
        except pybreaker.CircuitBreakerError:
            return None
