"""A synthetic run directory whose numbers are known by hand; shared by the analysis and report tests.

Timeline (t0 = T0, ten operations a second at t0 + s + i/10, i = 0..9):
- baseline  [0, 10):  every operation ok in one attempt, latency (i+1)*10 ms.
- brownout  [10, 20): fault applied at 10.0, removed at 20.0. Second 10 is still clean (the fault takes a
  second to bite); in seconds 11..19 the odd-numbered operations fail (http_5xx) after 3 attempts of
  5 ms each, with an end-to-end latency of 1000 ms.
- recovery  [20, 30): seconds 20 and 21 still fail like the brownout; clean from second 22 on.
- cooldown  [30, 35): no record at all (load had stopped).

So: baseline 100 ops all ok; brownout 100 ops, 55 ok, 190 attempts; recovery 100 ops, 90 ok, 120 attempts;
time to detect 1.0 s, time to recover 2.0 s.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.aggregate import Aggregates
from harness.analysis.frames import FaultWindow, PhaseWindow, Run
from harness.analysis.scan import Records
from harness.records import SCHEMAS, ShardWriter
from harness.scenario import Scenario

T0 = 1_764_300_000.0
SCENARIO = Path(__file__).parent / "fixtures" / "synthetic-run.yaml"
FAULT_SPEC = {"type": "http_error", "endpoint": "token", "status": 503, "probability": 0.5}
PHASES = (
    ("baseline", 0.0, 10.0),
    ("brownout", 10.0, 20.0),
    ("recovery", 20.0, 30.0),
    ("cooldown", 30.0, 35.0),
)


def failing(second: int, i: int) -> bool:
    return (11 <= second <= 21) and i % 2 == 1


def phase_of(second: int) -> str:
    return next(name for name, start, end in PHASES if start <= second < end)


def write_run(root: Path, *, records: bool = True, status: str = "completed") -> Path:
    """Write the synthetic run under `root` and return its directory."""
    run_dir = root / "20261128T041500Z-synthetic"
    run_dir.mkdir(parents=True)
    shutil.copy(SCENARIO, run_dir / "scenario.yaml")
    (run_dir / "journal.json").write_text(json.dumps(journal(status)), encoding="utf-8")
    if records:
        write_records(run_dir / "records")
    return run_dir


def write_records(records_dir: Path) -> None:
    attempts = ShardWriter(records_dir, "attempts", "n1")
    operations = ShardWriter(records_dir, "operations", "n1")
    for second in range(30):
        for i in range(10):
            ts = T0 + second + i / 10
            op_id = f"op-{second}-{i}"
            phase = phase_of(second)
            if failing(second, i):
                for n in (1, 2, 3):
                    attempts.append(_attempt(ts + 0.01 * (n - 1), op_id, n, 503, "http_5xx", 5.0, phase))
                operations.append(_operation(ts, op_id, 3, 503, "http_5xx", 1000.0, phase))
            else:
                latency = (i + 1) * 10.0
                attempts.append(_attempt(ts, op_id, 1, 200, "ok", latency, phase))
                operations.append(_operation(ts, op_id, 1, 200, "ok", latency, phase))
        if second in (9, 19, 29):  # several shards, as a real run writes them
            attempts.flush()
            operations.flush()


def journal(status: str = "completed") -> dict[str, Any]:
    return {
        "schema_version": 1,
        "run_id": "20261128T041500Z-synthetic",
        "status": status,
        "exit_code": 1,
        "scenario": {"name": "synthetic", "file": "tests/synthetic-run.yaml", "sha256": "0" * 64},
        "started_at": T0 - 2.0,
        "ended_at": T0 + 36.0,
        "test_start": T0,
        "phases": [
            {"name": name, "asked_start": T0 + start, "start": T0 + start, "end": T0 + end}
            for name, start, end in PHASES
        ],
        "faults": [
            {
                "id": "brownout.0",
                "phase": "brownout",
                "type": "http_error",
                "spec": FAULT_SPEC,
                "toxic": "harness-brownout-0",
                "apply_asked_at": T0 + 9.99,
                "applied_at": T0 + 10.0,
                "remove_asked_at": T0 + 19.99,
                "removed_at": T0 + 20.0,
                "error": None,
            }
        ],
        "events": [
            {"ts": T0 - 2.0, "kind": "run_start", "detail": "<b>synthetic</b> & co"},
            {"ts": T0 + 10.0, "kind": "fault_applied", "detail": "brownout.0"},
        ],
        "rollback": [{"ts": T0 + 35.5, "action": "proxy reset", "ok": True, "detail": "2 toxics removed"}],
    }


def _attempt(ts: float, op_id: str, n: int, status: int, outcome: str, latency_ms: float, phase: str) -> dict[str, Any]:
    return {
        "ts": ts,
        "op_id": op_id,
        "flow": "client_credentials",
        "step": "token",
        "endpoint": "token",
        "method": "POST",
        "attempt": n,
        "status": status,
        "outcome": outcome,
        "latency_ms": latency_ms,
        "bytes": 512,
        "phase": phase,
        "user": "u1",
        "node": "n1",
        "error": None,
    }


def _operation(
    ts: float, op_id: str, attempts: int, status: int, outcome: str, latency_ms: float, phase: str
) -> dict[str, Any]:
    return {
        "ts": ts,
        "op_id": op_id,
        "flow": "client_credentials",
        "step": "token",
        "attempts": attempts,
        "outcome": outcome,
        "status": status,
        "latency_ms": latency_ms,
        "backoff_ms": 0.0 if attempts == 1 else 200.0,
        "phase": phase,
        "user": "u1",
        "node": "n1",
        "intended_ts": None,
    }


def run_of(
    root: Path,
    scenario: Scenario,
    operations: pd.DataFrame,
    attempts: pd.DataFrame,
    phases: tuple[PhaseWindow, ...],
    faults: tuple[FaultWindow, ...],
    t0: float,
    data_end: float,
) -> Run:
    """A Run over records written from frames (missing columns are null), for tests that state rows by hand."""
    records_dir = root / "records"
    for kind, frame in (("operations", operations), ("attempts", attempts)):
        writer = ShardWriter(records_dir, kind, "n1")
        for row in frame.to_dict("records"):
            writer.append(full_row(kind, row))
        writer.flush()
    records = Records(records_dir)
    stats = Aggregates(records)
    stats.set_phase_ends({p.name: p.end for p in phases})
    return Run(root, scenario, {}, records, stats, phases, faults, t0, data_end)


def full_row(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A record row with every column of its kind (those not given are null), as ShardWriter wants it."""
    return dict.fromkeys(SCHEMAS[kind].names) | row
