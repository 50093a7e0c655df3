"""Per phase, per flow and per step tables at attempt and operation scope.

One row per (phase, flow, step) that has records, plus one per (flow, step) over the whole run (phase
None). Each row holds the same metrics as a phase (all from `metrics`); rows are grouped with one pandas
groupby per scope, so the cost is one pass over the records plus a small amount per group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from tests.reference.inmemory import metrics
from tests.reference.inmemory.frames import Run

KEYS = ("phase", "flow", "step")


def scope_metrics(
    frame: pd.DataFrame, scope: str, duration_s: float | None, retry_on: Iterable[str] | None
) -> dict[str, Any]:
    """Every metric of one slice of records at one scope."""
    row: dict[str, Any] = {
        "count": len(frame),
        "throughput_per_s": None if not duration_s or duration_s <= 0 else len(frame) / duration_s,
        "availability": metrics.availability(frame),
        "availability_interval": metrics.availability_interval(frame),
        "latency_ms": metrics.latency_percentiles(frame),
        "outcomes": metrics.outcome_counts(frame),
        "statuses": metrics.status_counts(frame),
    }
    if scope == "operation":
        loops = metrics.closed_and_open_loop_latency(frame)
        row |= {
            "attempts_per_operation": metrics.attempts_per_operation(frame),
            "give_up_rate": metrics.give_up_rate(frame, retry_on),
            "backoff_share": metrics.backoff_share(frame),
            "closed_loop_latency_ms": loops["closed_loop"],
            "open_loop_latency_ms": loops["open_loop"],
        }
    else:
        row["unauthorized_accepted"] = metrics.unauthorized_accepted(frame)
    return row


def breakdown(run: Run) -> dict[str, list[dict[str, Any]]]:
    """`{"operation": rows, "attempt": rows}`; operation rows include whole-journey records as their own
    step ("journey") so that a journey's end-to-end numbers sit beside its steps'."""
    durations = {p.name: p.duration_s for p in run.phases}
    total = sum(d for d in durations.values() if d is not None) or None
    retry_on = run.scenario.retry.retry_on
    return {
        scope: _rows(frame, scope, durations, total, retry_on)
        for scope, frame in (("operation", run.operations), ("attempt", run.attempts))
    }


def _rows(
    frame: pd.DataFrame,
    scope: str,
    durations: Mapping[str, float | None],
    total_s: float | None,
    retry_on: Iterable[str],
) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    order = {name: i for i, name in enumerate(durations)}
    rows = []
    for (phase, flow, step), group in frame.groupby(list(KEYS), observed=True, sort=True):
        keys = {"phase": str(phase), "flow": str(flow), "step": str(step)}
        rows.append(keys | scope_metrics(group, scope, durations.get(str(phase)), retry_on))
    rows.sort(key=lambda r: (order.get(r["phase"], len(order)), r["flow"], r["step"]))
    for (flow, step), group in frame.groupby(["flow", "step"], observed=True, sort=True):
        rows.append(
            {"phase": None, "flow": str(flow), "step": str(step)} | scope_metrics(group, scope, total_s, retry_on)
        )
    return rows
