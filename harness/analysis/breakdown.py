"""Per phase, per flow and per step tables at attempt and operation scope.

One row per (phase, flow, step) that has records, plus one per (flow, step) over the whole run (phase
None). Each row holds the same metrics as a phase (all from `metrics`), from the tally of its slice of
records (harness.analysis.aggregate): the finest groups are counted in one scan, and a row's tally merges
them without reading the records again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.analysis import metrics
from harness.analysis.aggregate import Aggregates, Slice
from harness.analysis.frames import Run
from harness.analysis.metrics import Tally

KEYS = ("phase", "flow", "step")
SCOPES = ("operation", "attempt")


def scope_metrics(tally: Tally, scope: str, duration_s: float | None, retry_on: Iterable[str] | None) -> dict[str, Any]:
    """Every metric of one slice of records at one scope."""
    row: dict[str, Any] = {
        "count": tally.count,
        "throughput_per_s": None if not duration_s or duration_s <= 0 else tally.count / duration_s,
        "availability": metrics.availability(tally),
        "availability_interval": metrics.availability_interval(tally),
        "latency_ms": metrics.latency_percentiles(tally),
        "outcomes": metrics.outcome_counts(tally),
        "statuses": metrics.status_counts(tally),
    }
    if scope == "operation":
        loops = metrics.closed_and_open_loop_latency(tally)
        row |= {
            "attempts_per_operation": metrics.attempts_per_operation(tally),
            "give_up_rate": metrics.give_up_rate(tally, retry_on),
            "backoff_share": metrics.backoff_share(tally),
            "closed_loop_latency_ms": loops["closed_loop"],
            "open_loop_latency_ms": loops["open_loop"],
        }
    else:
        row["unauthorized_accepted"] = metrics.unauthorized_accepted(tally)
    return row


def slices(stats: Aggregates, scope: str) -> tuple[list[Slice], list[Slice]]:
    """The breakdown's slices of a scope: each (phase, flow, step) with records, and each (flow, step) over
    the whole run. Operation rows include whole-journey records as their own step ("journey")."""
    keys = [(p, f, s) for p, f, s in stats.keys(scope) if p is not None and f is not None and s is not None]
    groups = [Slice(scope, (p,), (f,), (s,)) for p, f, s in sorted(keys)]
    pairs = sorted({(f, s) for _, f, s in stats.keys(scope) if f is not None and s is not None})
    return groups, [Slice(scope, None, (f,), (s,)) for f, s in pairs]


def breakdown(run: Run) -> dict[str, list[dict[str, Any]]]:
    """`{"operation": rows, "attempt": rows}`; operation rows include whole-journey records as their own
    step ("journey") so that a journey's end-to-end numbers sit beside its steps'."""
    durations = {p.name: p.duration_s for p in run.phases}
    total = sum(d for d in durations.values() if d is not None) or None
    retry_on = run.scenario.retry.retry_on
    return {scope: _rows(run.stats, scope, durations, total, retry_on) for scope in SCOPES}


def _rows(
    stats: Aggregates,
    scope: str,
    durations: Mapping[str, float | None],
    total_s: float | None,
    retry_on: Iterable[str],
) -> list[dict[str, Any]]:
    groups, whole_run = slices(stats, scope)
    order = {name: i for i, name in enumerate(durations)}
    rows = []
    for part in groups:
        assert part.phases and part.flows and part.steps
        keys: dict[str, str | None] = {"phase": part.phases[0], "flow": part.flows[0], "step": part.steps[0]}
        rows.append(keys | scope_metrics(stats.tally(part), scope, durations.get(part.phases[0]), retry_on))
    rows.sort(key=lambda r: (order.get(r["phase"], len(order)), r["flow"], r["step"]))
    for part in whole_run:
        assert part.flows and part.steps
        keys = {"phase": None, "flow": part.flows[0], "step": part.steps[0]}
        rows.append(keys | scope_metrics(stats.tally(part), scope, total_s, retry_on))
    return rows
