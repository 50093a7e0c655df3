"""Open-loop pacing against a fake clock: journeys are due on a fixed schedule, a late one keeps its
due time (so its latency counts the wait), and the caller stamps only the journey's first operation."""

from __future__ import annotations

import random

from harness.clients import Caller, RetryPolicy
from harness.load.pacing import Pacer
from harness.scenario.model import Retry
from tests.unit.clients.fakes import FakeTime, ListSink, scripted_session


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


def test_paced_caller_stamps_only_the_first_operation() -> None:
    session, _ = scripted_session([200, 200])
    sink, fake = ListSink(), FakeTime()
    caller = Caller(session, RetryPolicy(Retry()), sink, user="u1", node="local", phase=lambda: "p",
                         clock=fake.clock, perf=fake.clock, sleep=fake.sleep)  # fmt: skip
    caller.intended_ts = fake.now - 2.0  # the journey was due 2 s ago
    caller.call("flow", "step", "GET", "http://x/a", endpoint="a")
    caller.call("flow", "step2", "GET", "http://x/b", endpoint="b")
    assert [op["intended_ts"] for op in sink.operations] == [fake.now - 2.0, None]
    assert sink.operations[0]["latency_ms"] >= 2000.0  # its latency counts from when it was due
    assert sink.operations[1]["latency_ms"] < 2000.0
    assert caller.intended_ts is None
