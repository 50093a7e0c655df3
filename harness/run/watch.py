"""Live view of a run for the orchestrator: the records of the last seconds, and the stop conditions
judged on them.

The load processes close one Parquet shard per second; `LiveRecords.poll` reads only the shards it has
not seen and keeps a rolling horizon, so the cost per poll stays small however long the run. The
metrics are the analysis package's own functions: a stop condition and the report can never disagree
on what "availability" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from harness.analysis import metrics
from harness.records import shard_paths
from harness.scenario.model import StopCondition

COLUMNS = ["ts", "outcome", "latency_ms"]


class LiveRecords:
    def __init__(self, records_dir: Path, horizon_s: float):
        self.records_dir, self.horizon_s = records_dir, horizon_s
        self._seen: set[str] = set()
        self.frames: dict[str, pd.DataFrame] = {
            kind: pd.DataFrame({c: pd.Series(dtype="float64" if c != "outcome" else "object") for c in COLUMNS})
            for kind in ("attempts", "operations")
        }

    def poll(self) -> int:
        """Read shards written since the last poll; return how many rows arrived."""
        arrived = 0
        for kind in self.frames:
            new = [p for p in shard_paths(self.records_dir, kind) if p.name not in self._seen]
            parts = []
            for path in new:
                try:
                    parts.append(pq.read_table(path, columns=COLUMNS).to_pandas())
                except (OSError, ValueError):
                    continue  # vanished or unreadable: the writer only renames whole files, so try later
                self._seen.add(path.name)
            if parts:
                frame = pd.concat([self.frames[kind], *parts], ignore_index=True)
                arrived += sum(len(p) for p in parts)
                newest = frame["ts"].max()
                self.frames[kind] = frame[frame["ts"] >= newest - self.horizon_s].reset_index(drop=True)
        return arrived

    def window(self, kind: str, since: float, until: float) -> pd.DataFrame:
        frame = self.frames[kind]
        return frame[(frame["ts"] >= since) & (frame["ts"] <= until)]


@dataclass(frozen=True)
class Trigger:
    condition: StopCondition
    value: float
    samples: int
    at: float

    def describe(self) -> str:
        return f"stop condition {self.condition.label}: observed {self.value:.4g} over {self.samples} records"

    def record(self) -> dict[str, Any]:
        """The journal's `stop_condition`."""
        cond = self.condition
        return {"condition": cond.label, "metric": cond.metric, "scope": cond.scope, "window_s": cond.window_s,
                "below": cond.below, "above": cond.above, "observed": self.value, "samples": self.samples,
                "at": self.at}  # fmt: skip


def judge(condition: StopCondition, live: LiveRecords, now: float) -> Trigger | None:
    since = now - condition.window_s
    if condition.metric == "unauthorized_accepted":
        attempts = live.window("attempts", since, now)
        value: float | None = float(metrics.unauthorized_accepted(attempts))
        samples = len(attempts)
    else:
        frame = live.window("attempts" if condition.scope == "attempt" else "operations", since, now)
        samples = len(frame)
        if samples < condition.min_samples:
            return None  # too little evidence: a single failed call must not abort a run
        if condition.metric == "availability":
            value = metrics.availability(frame)
        elif condition.metric == "error_rate":
            value = metrics.error_rate(frame)
        else:
            value = metrics.latency_percentile(frame, 95.0 if condition.metric == "latency_p95_ms" else 99.0)
    if value is None:
        return None
    crossed = (condition.below is not None and value < condition.below) or (
        condition.above is not None and value > condition.above
    )
    return Trigger(condition, value, samples, now) if crossed else None


def first_trigger(conditions: tuple[StopCondition, ...], live: LiveRecords, now: float) -> Trigger | None:
    for condition in conditions:
        trigger = judge(condition, live, now)
        if trigger is not None:
            return trigger
    return None
