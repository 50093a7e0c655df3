from __future__ import annotations

from harness.idp.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_wait_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, clock=clock)
    assert limiter.retry_after_s("a") is None
    assert limiter.retry_after_s("a") is None
    assert limiter.retry_after_s("a") == 1
    assert limiter.retry_after_s("b") is None  # per client
    clock.now += 0.5
    assert limiter.retry_after_s("a") is None


def test_slow_rates_ask_for_longer_waits() -> None:
    clock = Clock()
    limiter = RateLimiter(0.2, clock=clock)
    assert limiter.retry_after_s("a") is None
    assert limiter.retry_after_s("a") == 5
