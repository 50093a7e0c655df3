"""Per-client rate limit: a token bucket per client id, in each worker process (so N workers allow N times
the rate; divide the option by --workers for a global figure). Time from an injectable monotonic clock."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

MAX_BUCKETS = 100_000  # dynamic registration must not grow memory without bound


class RateLimiter:
    def __init__(self, rate_per_s: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate_per_s = rate_per_s
        self.burst = max(1.0, rate_per_s)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client id -> (tokens, at)

    def retry_after_s(self, key: str) -> int | None:
        """None if the request may go ahead (and takes a token), else whole seconds to wait (at least 1)."""
        now = self._clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
        if tokens >= 1.0:
            if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
                self._buckets.clear()
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.rate_per_s))
