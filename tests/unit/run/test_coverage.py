"""The journal's `workers`: who joined, the records held of each, and which span is missing for a worker
lost mid-run or whose records did not all come home (shard metadata only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.records import ATTEMPT_SCHEMA, ShardWriter
from harness.run.coverage import worker_coverage

T0 = 1_000_000.0


def write(records: Path, node: str, seconds: range) -> None:
    writer = ShardWriter(records, "attempts", node)
    for s in seconds:
        for i in range(10):
            row: dict[str, Any] = {name: None for name in ATTEMPT_SCHEMA.names}
            row |= {"ts": T0 + s + i / 10, "op_id": "x", "flow": "f", "step": "s", "endpoint": "token",
                    "method": "POST", "attempt": 1, "status": 200, "outcome": "ok", "latency_ms": 1.0,
                    "bytes": 1, "phase": "p", "user": "u", "node": node, "error": ""}  # fmt: skip
            writer.append(row)
        writer.flush()


def joined(node: str, remote: bool) -> dict[str, Any]:
    return {"kind": "worker_joined", "ts": T0 - 1, "node": node, "client_id": f"c-{node}", "host": f"h-{node}",
            "pid": 7, "cores": 2, "version": "0.1.0", "remote": remote}  # fmt: skip


def test_complete_lost_and_undelivered_workers(tmp_path: Path) -> None:
    write(tmp_path, "far", range(10))
    write(tmp_path, "gone", range(4))  # lost at 6.5 s: what it shipped before covers 0-3.9 s
    write(tmp_path, "w1", range(3))  # a local worker killed at 3.2 s
    write(tmp_path, "late", range(2))  # alive, but its last shards did not come home at stop
    events = [
        joined("far", True), joined("gone", True), joined("w1", False), joined("late", True),
        {"kind": "worker_lost", "ts": T0 + 6.5, "node": "gone", "phase": "p", "workers_left": 2, "how": "missing",
         "made": 90},
        {"kind": "worker_lost", "ts": T0 + 3.2, "node": "w1", "phase": "p", "workers_left": 2, "how": "left"},
        {"kind": "records_home", "ts": T0 + 11, "node": "far", "files": 10, "bytes": 1, "complete": True,
         "missing": []},
        {"kind": "records_home", "ts": T0 + 11, "node": "gone", "files": 4, "bytes": 1, "complete": False,
         "missing": []},
        {"kind": "records_home", "ts": T0 + 11, "node": "late", "files": 2, "bytes": 1, "complete": False,
         "missing": ["attempts-late-000003.parquet"]},
    ]  # fmt: skip
    out = {w["node"]: w for w in worker_coverage(events, tmp_path, T0 + 12)}
    far, gone, w1, late = out["far"], out["gone"], out["w1"], out["late"]
    assert far["complete"] and far["missing"] is None and far["lost"] is None
    assert far["records"] == {"attempts": 100, "operations": 0, "shards": 10}
    assert (far["host"], far["pid"], far["cores"], far["version"], far["remote"]) == ("h-far", 7, 2, "0.1.0", True)
    assert far["first_ts"] == T0 and far["last_ts"] == T0 + 9.9
    assert not gone["complete"] and gone["missing"] == [T0 + 3.9, T0 + 6.5]
    assert gone["lost"] == {"at": T0 + 6.5, "how": "missing", "phase": "p", "made": 90}
    assert not w1["complete"] and w1["missing"] == [T0 + 2.9, T0 + 3.2] and w1["lost"]["how"] == "left"
    assert not late["complete"] and late["missing"] == [T0 + 1.9, T0 + 12]
    assert late["missing_shards"] == ["attempts-late-000003.parquet"]


def test_a_remote_worker_that_never_sent_anything(tmp_path: Path) -> None:
    events = [joined("far", True), {"kind": "worker_lost", "ts": T0 + 2, "node": "far", "phase": "p",
                                    "workers_left": 0}]  # fmt: skip
    (far,) = worker_coverage(events, tmp_path, T0 + 5)
    assert far["records"]["shards"] == 0 and far["missing"] == [T0 - 1, T0 + 2]
