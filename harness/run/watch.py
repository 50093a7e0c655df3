"""Live view of a run for the orchestrator: the records of the last seconds, and the stop conditions
judged on them (the live SLO states read every record so far where it lies: harness.run.live).

The load processes close one Parquet shard per second; `LiveRecords.poll` reads only the shards it has
not seen and keeps a rolling horizon, nothing older, so the cost per poll and the memory stay small
however long the run. The metrics are the analysis package's own functions, on the same records:
operation scope means step operations (whole-journey records left out), as in the report, so a stop
condition and the report can never disagree on what "availability" means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from harness.analysis import metrics
from harness.analysis.frames import ATTEMPT_COLUMNS, OPERATION_COLUMNS, step_operations
from harness.records import SCHEMAS, shard_paths
from harness.scenario.model import StopCondition

COLUMNS = {"attempts": list(ATTEMPT_COLUMNS), "operations": list(OPERATION_COLUMNS)}


class LiveRecords:
    def __init__(self, records_dir: Path, horizon_s: float):
        self.records_dir, self.horizon_s = records_dir, horizon_s
        # each shard's rows as they arrive, before the horizon drops any (harness.run.exporter's counters)
        self.listeners: list[Callable[[str, pd.DataFrame], None]] = []
        self._seen: set[str] = set()
        self.frames: dict[str, pd.DataFrame] = {kind: _empty(kind) for kind in COLUMNS}  # the horizon
        self.newest_ts: float | None = None

    def poll(self) -> int:
        """Read shards written since the last poll; return how many rows arrived."""
        arrived = 0
        for kind in self.frames:
            new = [p for p in shard_paths(self.records_dir, kind) if p.name not in self._seen]
            parts = []
            for path in new:
                try:
                    parts.append(pq.read_table(path, columns=COLUMNS[kind]).to_pandas())
                except (OSError, ValueError):
                    continue  # vanished or unreadable: the writer only renames whole files, so try later
                self._seen.add(path.name)
            parts = [p for p in parts if len(p)]
            for part in parts:
                for listener in self.listeners:
                    listener(kind, part)
            if parts:
                frame = pd.concat([self.frames[kind], *parts], ignore_index=True)
                arrived += sum(len(p) for p in parts)
                newest = float(frame["ts"].max())
                self.newest_ts = newest if self.newest_ts is None else max(self.newest_ts, newest)
                self.frames[kind] = frame[frame["ts"] >= newest - self.horizon_s].reset_index(drop=True)
        return arrived

    def window(self, kind: str, since: float, until: float) -> pd.DataFrame:
        """Records of `kind` with since <= ts <= until; operations are step operations (see the docstring)."""
        frame = self.frames[kind]
        frame = frame[(frame["ts"] >= since) & (frame["ts"] <= until)]
        return step_operations(frame) if kind == "operations" else frame


def _empty(kind: str) -> pd.DataFrame:
    schema = SCHEMAS[kind]
    return schema.empty_table().select(COLUMNS[kind]).to_pandas()


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
    """The first stop condition on the records that fired (those on probes: harness.run.steady)."""
    for condition in conditions:
        if condition.metric is None:
            continue
        trigger = judge(condition, live, now)
        if trigger is not None:
            return trigger
    return None
