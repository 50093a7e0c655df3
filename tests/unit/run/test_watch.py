"""Stop conditions judged on live shards: one test per metric, plus the evidence threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.records import ShardWriter
from harness.run.watch import LiveRecords, first_trigger, judge
from harness.scenario.model import StopCondition

NOW = 1_000.0


def write(tmp: Path, kind: str, rows: list[tuple[float, str, float]], node: str = "local") -> None:
    writer = ShardWriter(tmp, kind, node)
    for ts, outcome, latency in rows:
        if kind == "attempts":
            writer.append({"ts": ts, "op_id": "x", "flow": "f", "step": "s", "endpoint": "token", "method": "POST",
                           "attempt": 1, "status": 200, "outcome": outcome, "latency_ms": latency, "bytes": 1,
                           "phase": "p", "user": "u", "node": "local", "error": ""})
        else:
            writer.append({"ts": ts, "op_id": "x", "flow": "f", "step": "s", "attempts": 1, "outcome": outcome,
                           "status": 200, "latency_ms": latency, "backoff_ms": 0.0, "phase": "p", "user": "u",
                           "node": "local", "intended_ts": None})
    writer.flush()


@pytest.fixture
def live(tmp_path: Path) -> LiveRecords:
    # 30 s of history: the first 20 s healthy, the last 10 s 60% failing and slow
    ops = [(NOW - 30 + i * 0.5, "ok", 5.0) for i in range(40)]
    ops += [(NOW - 10 + i * 0.25, "http_5xx" if i % 5 < 3 else "ok", 900.0) for i in range(40)]
    write(tmp_path, "operations", ops)
    write(tmp_path, "attempts", [*ops, (NOW - 1, "security_violation", 3.0)])
    records = LiveRecords(tmp_path, horizon_s=60)
    assert records.poll() == len(ops) * 2 + 1
    return records


@pytest.mark.parametrize(
    ("condition", "fires"),
    [
        (StopCondition(metric="availability", window_s=10, below=0.5), True),  # 0.4 < 0.5
        (StopCondition(metric="availability", window_s=10, below=0.3), False),
        (StopCondition(metric="error_rate", window_s=10, above=0.5), True),
        (StopCondition(metric="latency_p95_ms", window_s=10, above=500), True),
        (StopCondition(metric="latency_p99_ms", window_s=10, above=1000), False),
        (StopCondition(metric="unauthorized_accepted", window_s=5, above=0), True),
        (StopCondition(metric="availability", scope="attempt", window_s=10, below=0.5), True),
    ],
)
def test_each_metric(live: LiveRecords, condition: StopCondition, fires: bool) -> None:
    assert (judge(condition, live, NOW) is not None) == fires


def test_a_healthy_window_does_not_fire(live: LiveRecords) -> None:
    assert judge(StopCondition(metric="availability", window_s=5, below=0.99), live, NOW - 11) is None


def test_too_little_evidence_never_fires(live: LiveRecords) -> None:
    cond = StopCondition(metric="availability", window_s=10, below=0.5, min_samples=1000)
    assert judge(cond, live, NOW) is None


def test_trigger_says_what_and_how_much(live: LiveRecords) -> None:
    trigger = first_trigger((StopCondition(metric="availability", window_s=10, below=0.5),), live, NOW)
    assert trigger is not None
    assert trigger.value == pytest.approx(0.4) and trigger.samples == 40
    assert "availability (operation, 10 s) below 0.5" in trigger.describe()


def test_poll_reads_each_shard_once_and_keeps_a_horizon(tmp_path: Path) -> None:
    write(tmp_path, "operations", [(NOW - 100, "ok", 1.0)])
    live = LiveRecords(tmp_path, horizon_s=10)
    assert live.poll() == 1
    assert live.poll() == 0
    write(tmp_path, "operations", [(NOW, "ok", 1.0)], node="worker-2")
    assert live.poll() == 1
    assert list(live.frames["operations"]["ts"]) == [NOW]  # the old row fell out of the horizon


def test_operation_scope_leaves_whole_journeys_out_as_the_report_does(tmp_path: Path) -> None:
    """A failed step is also its journey's failure: counted twice it would halve availability, and a stop
    condition would fire on numbers the report never shows."""
    writer = ShardWriter(tmp_path, "operations", "local")
    for i in range(40):
        for step in ("token", "journey"):
            writer.append({"ts": NOW - 5 + i * 0.1, "op_id": f"o{i}", "flow": "f", "step": step, "attempts": 1,
                           "outcome": "ok" if i % 4 else "http_5xx", "status": 200, "latency_ms": 5.0,
                           "backoff_ms": 0.0, "phase": "p", "user": "u", "node": "local",
                           "intended_ts": None})  # fmt: skip
    writer.flush()
    live = LiveRecords(tmp_path, horizon_s=60)
    live.poll()
    window = live.window("operations", NOW - 10, NOW)
    assert len(window) == 40 and set(window["step"]) == {"token"}
    trigger = first_trigger((StopCondition(metric="availability", window_s=10, below=0.8),), live, NOW)
    assert trigger is not None and trigger.value == pytest.approx(0.75) and trigger.samples == 40
