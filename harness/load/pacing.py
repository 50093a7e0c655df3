"""Open-loop arrival: journeys start on a fixed schedule whatever the response times, and each
operation's latency counts from when it was due (coordinated-omission correction, as wrk2 does).

Each user owns a slice of the rate (`rate / users` journeys per second), starting at a seeded random
offset so users do not fire in lockstep. A user that falls behind starts its next journey at once with
the past due time, so a stalled server shows as long latencies, not as missing samples.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

RateFn = Callable[[], tuple[float, int] | None]  # (journeys per second, users sharing them)


class Pacer:
    def __init__(self, rate: RateFn, rng: random.Random, clock: Callable[[], float] = time.time):
        self.rate, self.clock = rate, clock
        self.due_ts = clock() + rng.uniform(0.0, self.interval_s())

    def interval_s(self) -> float:
        current = self.rate()
        if current is None:
            return 1.0
        per_s, users = current
        return users / per_s

    def wait_s(self) -> float:
        """How long until the next journey is due (0 when it is late)."""
        return max(0.0, self.due_ts - self.clock())

    def start(self) -> float:
        """Take the due time of the journey starting now and schedule the next one."""
        due = self.due_ts
        self.due_ts = due + self.interval_s()
        return due
