"""Who joined a run, who was refused and whose records came home are journal events with a readable
detail, folded once however often the timeline is read; the console prints them as they happen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.run.console import describe
from harness.run.journal import Journal

EVENTS: list[dict[str, Any]] = [
    {"kind": "worker_joined", "ts": 1.0, "node": "far-1", "client_id": "c1", "host": "h1", "pid": 9, "cores": 8,
     "version": "0.1.0", "remote": True},
    {"kind": "worker_joined", "ts": 1.0, "node": "w1", "client_id": "c2", "host": "h0", "pid": 3, "cores": 2,
     "version": "0.1.0", "remote": False},
    {"kind": "worker_refused", "ts": 2.0, "node": "old", "host": "h2", "reason": "it runs harness 0.0.9"},
    {"kind": "worker_lost", "ts": 3.0, "node": "far-1", "phase": "brownout", "workers_left": 1, "how": "left"},
    {"kind": "records_home", "ts": 4.0, "node": "far-1", "files": 3, "bytes": 900, "complete": False,
     "missing": ["attempts-far-1-000004.parquet"]},
    {"kind": "workers_missing", "ts": 5.0, "expected": 3, "joined": ["w1"], "waited_s": 60.0},
]  # fmt: skip


def test_worker_events_are_folded_once_with_their_detail(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.json", "run", {})
    journal.fold(EVENTS)
    journal.fold(EVENTS)
    details = [e["detail"] for e in journal.events]
    assert details == [
        "remote worker far-1 joined: host h1, pid 9, 8 cores, harness 0.1.0",
        "local worker w1 joined: host h0, pid 3, 2 cores, harness 0.1.0",
        "worker old on h2 refused: it runs harness 0.0.9",
        "worker far-1 quit before the end in phase brownout; the run goes on",
        "records of far-1 home: not all (1 shards missing); 3 shards, 900 bytes",
        "1 of 3 workers joined within 60.0 s",
    ]
    assert journal.events[0]["host"] == "h1" and journal.events[0]["cores"] == 8


def test_the_console_prints_who_joins() -> None:
    assert describe(EVENTS[0]) == "remote worker far-1 joined: host h1, pid 9, 8 cores, harness 0.1.0"
