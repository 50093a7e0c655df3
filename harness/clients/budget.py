"""A retry budget shared by the users of one load process: retries may be at most a fraction of the
requests of a sliding window, plus a small floor (Finagle's RetryBudget). Under a brownout, retries
without a budget multiply the load on a struggling provider; with one they stop adding to it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from harness.scenario.model import RetryBudget as RetryBudgetSpec


class RetryBudget:
    """`deposit()` once per operation (first attempts), `try_withdraw()` before each retry."""

    def __init__(self, spec: RetryBudgetSpec, clock: Callable[[], float] = time.monotonic):
        self.spec, self.clock = spec, clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        horizon = now - self.spec.window_s
        for q in (self._requests, self._retries):
            while q and q[0] <= horizon:
                q.popleft()

    def deposit(self) -> None:
        now = self.clock()
        self._trim(now)
        self._requests.append(now)

    def available(self) -> float:
        self._trim(self.clock())
        allowed = self.spec.min_retries_per_s * self.spec.window_s + self.spec.ratio * len(self._requests)
        return allowed - len(self._retries)

    def try_withdraw(self) -> bool:
        if self.available() < 1:
            return False
        self._retries.append(self.clock())
        return True
