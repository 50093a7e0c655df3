"""Which load worker's records a run holds: for every worker that joined (the timeline's `worker_joined`),
what is in `records/` under its node name, and, for one lost mid-run or whose records did not all come
home, which seconds are missing. The journal keeps the result as `workers`; the report shows it.

Only shard metadata is read (row counts, and the `ts` column's min/max from the Parquet footer), never the
records themselves, so this costs the same for a minute's run as for a day's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

SHARD = re.compile(r"^(?P<kind>attempts|operations)-(?P<node>.+)-\d{6}\.parquet$")


@dataclass
class NodeRecords:
    attempts: int = 0
    operations: int = 0
    shards: int = 0
    first_ts: float | None = None
    last_ts: float | None = None

    def add(self, kind: str, rows: int, low: float | None, high: float | None) -> None:
        setattr(self, kind, getattr(self, kind) + rows)
        self.shards += 1
        if low is not None:
            self.first_ts = low if self.first_ts is None else min(self.first_ts, low)
        if high is not None:
            self.last_ts = high if self.last_ts is None else max(self.last_ts, high)


def records_by_node(records_dir: Path) -> dict[str, NodeRecords]:
    out: dict[str, NodeRecords] = {}
    for path in sorted(records_dir.glob("*.parquet")):
        found = SHARD.fullmatch(path.name)
        if found is None:
            continue
        try:
            meta = pq.ParquetFile(path).metadata
        except (OSError, ValueError):
            continue
        low, high = _ts_range(meta)
        out.setdefault(found["node"], NodeRecords()).add(found["kind"], meta.num_rows, low, high)
    return out


def _ts_range(meta: Any) -> tuple[float | None, float | None]:
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if "ts" not in names:
        return None, None
    col = names.index("ts")
    lows, highs = [], []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(col).statistics
        if stats is not None and stats.has_min_max:
            lows.append(float(stats.min))
            highs.append(float(stats.max))
    return (min(lows), max(highs)) if lows else (None, None)


def worker_coverage(events: Iterable[Mapping[str, Any]], records_dir: Path, ended_at: float) -> list[dict[str, Any]]:
    """One entry per worker that joined: who, its records here, whether they are complete, and if not which
    span `[from, to]` (epoch s) is missing: from its last record here to when it was lost (or the end)."""
    events = list(events)
    joined = {e["node"]: e for e in events if e.get("kind") == "worker_joined"}
    lost = {e["node"]: e for e in events if e.get("kind") == "worker_lost"}
    home = {e["node"]: e for e in events if e.get("kind") == "records_home"}
    stats = records_by_node(records_dir)
    out = []
    for node, who in joined.items():
        held = stats.get(node, NodeRecords())
        entry: dict[str, Any] = {
            "node": node, "host": who.get("host"), "pid": who.get("pid"), "cores": who.get("cores"),
            "version": who.get("version"), "remote": bool(who.get("remote")), "joined_at": who.get("ts"),
            "records": {"attempts": held.attempts, "operations": held.operations, "shards": held.shards},
            "first_ts": held.first_ts, "last_ts": held.last_ts, "lost": None, "missing": None,
        }  # fmt: skip
        gone = lost.get(node)
        came_home = home.get(node)
        if gone is not None:
            entry["lost"] = {"at": gone.get("ts"), "how": gone.get("how", "missing"), "phase": gone.get("phase"),
                             "made": gone.get("made")}  # fmt: skip
        # remote: the master holds every shard it wrote (even one lost and back); local: its shards are on
        # this disk up to its last flush, so only a lost one misses its last second or two
        complete = bool(came_home and came_home.get("complete")) if entry["remote"] else gone is None
        entry["complete"] = complete
        if not complete:
            start = held.last_ts if held.last_ts is not None else float(who.get("ts") or ended_at)
            end = float(gone["ts"]) if gone is not None else ended_at
            entry["missing"] = [start, max(start, end)]
            if came_home is not None and came_home.get("missing"):
                entry["missing_shards"] = list(came_home["missing"])
        out.append(entry)
    return out
