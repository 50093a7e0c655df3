"""Rate limits, in each worker process (so N workers allow N times the rate), time from an injectable
monotonic clock: `RateLimiter`, a token bucket per client id that every request draws on; `AttemptLimiter`,
a bucket per client address that only failed attempts draw on (user codes, RFC 8628 section 5.1)."""

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


class AttemptLimiter:
    """Failed attempts per key: `burst` of them at once, then `per_min` a minute. Only `charge` (a failure)
    takes from the bucket, so a person who gets it right is never slowed down by the limit."""

    def __init__(self, *, burst: int, per_min: float, clock: Callable[[], float] = time.monotonic):
        self.burst = float(max(1, burst))
        self.rate_per_s = per_min / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate_per_s)

    def retry_after_s(self, key: str) -> int | None:
        """None while `key` may still try, else whole seconds until its next attempt (at least 1)."""
        tokens = self._tokens(key, self._clock())
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.rate_per_s)) if self.rate_per_s > 0 else 3600

    def charge(self, key: str) -> None:
        now = self._clock()
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._buckets.clear()
        self._buckets[key] = (max(0.0, self._tokens(key, now) - 1.0), now)
