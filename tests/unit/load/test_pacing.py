"""Open-loop pacing against a fake clock: journeys are due on a fixed schedule, a late one keeps its
due time (so its latency counts the wait), and the caller stamps only the journey's first operation."""

from __future__ import annotations

import random

from harness.load.pacing import PacedCaller, Pacer


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_due_times_follow_the_rate_per_user() -> None:
    clock = Clock()
    pacer = Pacer(lambda: (10.0, 5), random.Random(1), clock)  # 10/s over 5 users: every 0.5 s each
    first = pacer.due_ts
    assert 1000.0 <= first <= 1000.5
    clock.now = first
    assert pacer.wait_s() == 0.0
    assert pacer.start() == first
    assert pacer.due_ts == first + 0.5
    assert pacer.wait_s() == 0.5


def test_a_stalled_user_keeps_the_past_due_time() -> None:
    clock = Clock()
    pacer = Pacer(lambda: (2.0, 1), random.Random(1), clock)
    due = pacer.start()
    clock.now = due + 3.0  # the server stalled for 3 s
    assert pacer.wait_s() == 0.0
    assert pacer.start() == due + 0.5  # due in the past: its latency will count the 2.5 s it waited
    assert pacer.start() == due + 1.0


def test_same_seed_same_offsets() -> None:
    offsets = [Pacer(lambda: (1.0, 4), random.Random(7), Clock()).due_ts for _ in range(2)]
    assert offsets[0] == offsets[1]


def test_paced_caller_stamps_only_the_first_operation(monkeypatch) -> None:
    seen: list[float | None] = []

    def fake_call(self, *args, **kwargs):  # the real Caller.call is tested with the clients
        seen.append(kwargs.get("intended_ts"))

    monkeypatch.setattr("harness.clients.caller.Caller.call", fake_call)
    caller = PacedCaller.__new__(PacedCaller)
    caller.intended_ts = 12.5
    caller.call("flow", "step", "GET", "http://x")
    caller.call("flow", "step2", "GET", "http://x")
    assert seen == [12.5, None]
