"""The live view's counters: a worker's delta survives a msgpack round trip and merges into the same
numbers the master would have counted itself; windows, phases and percentiles read back right."""

from __future__ import annotations

import msgpack

from harness.contract import AttemptRow, OperationRow, Outcome
from harness.load.live import LiveStats, bucket_ms, bucket_of, percentile
from harness.load.resilience import rows, slo_state
from harness.scenario import load_scenario_text


def attempt_row(ts: float, outcome: Outcome = "ok", latency_ms: float = 10.0, phase: str = "a") -> AttemptRow:
    return AttemptRow(ts=ts, op_id="op", flow="cc", step="token", endpoint="token", method="POST", attempt=1,
                      status=200, outcome=outcome, latency_ms=latency_ms, bytes=0, phase=phase, user="u",
                      node="local", error="")


def operation_row(ts: float, outcome: Outcome = "ok", latency_ms: float = 10.0, phase: str = "a",
                  attempts: int = 1) -> OperationRow:
    return OperationRow(ts=ts, op_id="op", flow="cc", step="token", attempts=attempts, outcome=outcome, status=200,
                        latency_ms=latency_ms, backoff_ms=0.0, phase=phase, user="u", node="local", intended_ts=None)


def test_bucket_upper_edge_never_understates() -> None:
    for ms in (0.5, 3.0, 47.0, 1234.0):
        assert ms <= bucket_ms(bucket_of(ms)) <= ms * 1.06


def test_worker_delta_merges_after_msgpack() -> None:
    worker, master = LiveStats(clock=lambda: 105.0), LiveStats(clock=lambda: 105.0)
    for i in range(10):
        worker.attempt(attempt_row(100 + i % 3, "ok" if i % 2 else "http_5xx"))
    worker.operation(operation_row(101, attempts=3))
    shipped = msgpack.unpackb(msgpack.packb(worker.take()))
    master.merge(shipped)
    assert worker.take() == []  # a delta is shipped once
    assert master.phases_total("a", None).n == 10 and master.phases_total("a", ["a"]).ok == 5
    ops = master.window("o", 10)["cc.token"]
    assert (ops.n, ops.attempts) == (1, 3)


def test_window_excludes_the_current_second_and_old_ones() -> None:
    live = LiveStats(clock=lambda: 120.5)
    for ts in (105.0, 115.0, 119.9, 120.2):
        live.operation(operation_row(ts, latency_ms=ts))
    live.absorb_own()
    assert live.window("o", 10)["cc.token"].n == 2  # 115 and 119.9; 120 is still filling, 105 too old
    p95 = live.window_p95_ms(10)["cc.token"]
    assert p95 is not None and 119.9 <= p95 <= 119.9 * 1.06


def test_percentile_of_buckets() -> None:
    from collections import Counter

    hist = Counter({bucket_of(1.0): 95, bucket_of(100.0): 5})
    assert percentile(hist, 0.95) == bucket_ms(bucket_of(1.0))
    assert percentile(hist, 0.99) == bucket_ms(bucket_of(100.0))
    assert percentile(Counter(), 0.5) is None


SCENARIO = """
name: s
phases:
  - {name: a, duration_s: 5}
  - name: b
    duration_s: 5
    faults: [{type: http_error, endpoint: token, status: 503, probability: 0.5}]
slos:
  - {name: avail, metric: availability, scope: attempt, phases: [a], at_least: 0.9}
  - {name: amp, metric: attempts_per_operation, at_most: 1.5}
  - {name: ttr, metric: time_to_recover_s, at_most: 10}
"""


def test_slo_states_and_rows() -> None:
    scenario = load_scenario_text(SCENARIO)
    live = LiveStats(clock=lambda: 103.0)
    for i in range(10):
        live.attempt(attempt_row(101, "ok" if i < 8 else "http_5xx"))
    live.operation(operation_row(101, attempts=2))
    live.absorb_own()
    states = {slo.name: slo_state(slo, live) for slo in scenario.slos}
    assert states["avail"] == (0.8, "VIOLATED")
    assert states["amp"] == (2.0, "VIOLATED")
    assert states["ttr"] == (None, "judged after the run")
    table = rows(scenario, live, "b", ["b.0 (harness-x-p1-f0)"], "running")
    cells = {(r["section"], r["name"]): r["value"] for r in table}
    assert cells[("now", "phase")] == "b" and "b.0" in cells[("now", "active faults")]
    assert cells[("availability", "attempt")].startswith("80.00% last 10 s (10)")
    assert "http_error" in cells[("plan", "fault b.0")]
