"""`summary.json`: every number the reports show, computed once from a run directory.

The HTML report, the JUnit file and anything else that reads a run (notebooks, comparisons, the index
page) read this dict; none of them recomputes a metric. The dict is JSON-safe (no NaN or infinity: a
missing value is null) and written with sorted keys so that two builds of one run give the same file.
Its schema is `harness/report/summary.schema.json` (documented in docs/summary-schema.md); bump
SCHEMA_VERSION with any change a reader would notice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import breakdown as breakdown_tables
from harness.analysis import metrics, quantiles, slo, statistics
from harness.analysis.aggregate import Slice
from harness.analysis.breakdown import breakdown
from harness.analysis.configuration import configuration
from harness.analysis.frames import FaultWindow, PhaseWindow, Run, load_run
from harness.analysis.metrics import Recovery
from harness.analysis.proxy_counters import PROXY_METRICS_FILE, ToxicCount, read_toxic_counters
from harness.analysis.recovery import baseline_phase, fault_recoveries, phase_operations
from harness.analysis.slo import error_budgets, evaluate_slos
from harness.analysis.statistics import compare_with_baseline

SCHEMA_VERSION = 2
SUMMARY_FILE = "summary.json"
COMPLETE_STATUSES = ("completed", "failed")
# The exit code of a run that did not end normally, when its journal does not say (errors.EXIT_*).
EXIT_OF_STATUS = {"aborted": 3, "interrupted": 3, "crashed": 4}


def outcome(journal_status: str, journal_exit_code: int | None, slos_held: bool) -> tuple[str, int | None, str]:
    """(status, exit code, verdict) of a run: defined here once, so that what `harness run` writes, what it
    exits with and what `harness report` rebuilds from the journal are one and the same.

    A run that ended normally ("completed", or "failed" once judged) is judged by its SLOs: completed and
    exit 0 when every SLO held, failed and exit 1 otherwise. Any other end keeps its status and exit code
    (3 aborted or interrupted, 4 crashed). The verdict is "pass" exactly when the exit code is 0, "fail"
    otherwise, and "incomplete" for a run still going (no exit code yet)."""
    code: int | None
    if journal_status in COMPLETE_STATUSES:
        status, code = ("completed", 0) if slos_held else ("failed", 1)
    else:
        status, code = journal_status, journal_exit_code if journal_exit_code else EXIT_OF_STATUS.get(journal_status)
    verdict = "incomplete" if code is None else ("pass" if code == 0 else "fail")
    return status, code, verdict


def build_summary(run_dir: str | Path) -> dict[str, Any]:
    """The summary of a run directory (not written; see `write_summary`)."""
    with load_run(run_dir) as run:
        return summarize(run)


def slices(run: Run) -> list[Slice]:
    """Every slice of records the summary reads, so that their percentiles are found in one go."""
    phases = [s for p in run.phases for s in (phase_operations(p.name), Slice("attempt", (p.name,)))]
    rows = [s for scope in breakdown_tables.SCOPES for part in breakdown_tables.slices(run.stats, scope) for s in part]
    totals = [Slice("operation", journeys=False), Slice("operation"), Slice("attempt")]
    return phases + rows + totals + slo.slices(run)


def summarize(run: Run) -> dict[str, Any]:
    journal, scenario = run.journal, run.scenario
    run.stats.prepare(slices(run))
    recoveries = fault_recoveries(run)
    slos = evaluate_slos(run, recoveries)
    started, ended = journal.get("started_at"), journal.get("ended_at")
    reference = baseline_phase(run)
    counters = read_toxic_counters(run.run_dir)
    status, exit_code, verdict = outcome(str(journal.get("status", "unknown")), journal.get("exit_code"),
                                         all(s.passed for s in slos))  # fmt: skip
    summary = {
        "schema_version": SCHEMA_VERSION,
        "run_id": journal.get("run_id") or run.run_dir.name,
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "file": (journal.get("scenario") or {}).get("file"),
            "sha256": (journal.get("scenario") or {}).get("sha256"),
        },
        "status": status,
        "exit_code": exit_code,
        "started_at": started,
        "ended_at": ended,
        "duration_s": _duration(started, ended),
        "test_start": run.t0,
        "data_end": run.data_end,
        "complete": journal.get("status") in COMPLETE_STATUSES and run.has_records,
        "notes": _notes(run),
        "verdict": verdict,
        "slos_held": all(s.passed for s in slos),
        "configuration": configuration(scenario, journal),
        "methods": {**metrics.METHODS, **statistics.METHODS},
        "baseline_phase": reference,
        "recovery_tolerance": {
            "availability_drop": metrics.AVAILABILITY_DROP_TOLERANCE,
            "p95_factor": metrics.P95_FACTOR,
            "p95_slack_ms": metrics.P95_SLACK_MS,
            "min_window_s": metrics.MIN_RECOVERY_WINDOW_S,
        },
        "phase_order": [p.name for p in run.phases],
        "phases": {p.name: _phase(run, p, reference) for p in run.phases},
        "faults": [_fault(f, recoveries[f.id], counters) for f in run.faults],
        "proxy_counters": {"measured": counters is not None, "file": PROXY_METRICS_FILE},
        "open_loop": metrics.has_open_loop(run.stats.tally(Slice("operation"))),
        "latency_percentiles": _precision(run),
        "slos": [s.as_dict() for s in slos],
        "error_budgets": error_budgets(run),
        "breakdown": breakdown(run),
        "totals": _totals(run),
        "events": list(journal.get("events") or []),
        "rollback": list(journal.get("rollback") or []),
        "stop_condition": journal.get("stop_condition"),
        "steady_state": journal.get("steady_state") or {},
        "deviated": journal.get("deviated"),
        "workers": [_worker(w, run.t0) for w in journal.get("workers") or []],
        "listen": ((journal.get("services") or {}).get("target") or {}).get("listen"),
    }
    safe: dict[str, Any] = json_safe(summary)
    return safe


def write_summary(summary: dict[str, Any], run_dir: str | Path) -> Path:
    path = Path(run_dir) / SUMMARY_FILE
    path.write_text(dumps(summary), encoding="utf-8")
    return path


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True, indent=2, allow_nan=False) + "\n"


def json_safe(value: Any) -> Any:
    """Plain JSON values only: numpy scalars unwrapped, NaN and infinities as None, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _phase(run: Run, phase: PhaseWindow, reference: str | None) -> dict[str, Any]:
    ops = run.stats.tally(phase_operations(phase.name))
    att = run.stats.tally(Slice("attempt", (phase.name,)))
    faults = [f.spec | {"label": f.label, "id": f.id} for f in run.faults if f.phase == phase.name]
    if not faults:  # the run never got to apply them: show what the scenario planned
        faults = [dict(spec) for spec in phase.faults]
    return {
        "start": phase.start,
        "end": phase.end,
        "duration_s": phase.duration_s,
        "planned_duration_s": phase.planned_duration_s,
        "faults": faults,
        "operations": ops.count,
        "attempts": att.count,
        "availability": {
            "attempt": metrics.availability(att),
            "attempt_interval": metrics.availability_interval(att),
            "operation": metrics.availability(ops),
            "operation_interval": metrics.availability_interval(ops),
        },
        "latency_ms": {
            "operation": metrics.latency_percentiles(ops),
            "attempt": metrics.latency_percentiles(att),
            **metrics.closed_and_open_loop_latency(ops),
        },
        "attempts_per_operation": metrics.attempts_per_operation(ops),
        "attempts_per_operation_interval": metrics.attempts_per_operation_interval(ops),
        "backoff_share": metrics.backoff_share(ops),
        "give_up_rate": metrics.give_up_rate(ops, run.scenario.retry.retry_on),
        "throughput_ops": metrics.throughput_ops(ops, phase.duration_s),
        "outcomes": metrics.outcome_counts(ops),
        "attempt_outcomes": metrics.outcome_counts(att),
        "statuses": metrics.status_counts(ops),
        "attempt_statuses": metrics.status_counts(att),
        "unauthorized_accepted": metrics.unauthorized_accepted(att),
        "vs_baseline": None
        if reference is None or reference == phase.name
        else compare_with_baseline(
            run.stats.sampled(phase_operations(reference)), run.stats.sampled(phase_operations(phase.name))
        ),
    }


def _fault(fault: FaultWindow, found: Recovery, counters: dict[str, ToxicCount] | None) -> dict[str, Any]:
    count = None if counters is None or fault.toxic is None else counters.get(fault.toxic)
    return {
        "id": fault.id,
        "type": fault.type,
        "phase": fault.phase,
        "label": fault.label,
        "spec": fault.spec,
        "apply_asked_at": fault.apply_asked_at,
        "applied_at": fault.applied_at,
        "remove_asked_at": fault.remove_asked_at,
        "removed_at": fault.removed_at,
        "lateness_ms": fault.lateness_ms,
        "window": [fault.start, fault.end],
        "error": fault.error,
        "time_to_detect_s": found.time_to_detect_s,
        "time_to_recover_s": found.time_to_recover_s,
        "recovered": found.recovered,
        "recovery_window": list(found.window) if found.window is not None else None,
        "recovery_note": found.note,
        "toxic": fault.toxic,
        "configured_rate": configured_rate(fault.spec),
        "injected": None
        if count is None
        else {
            "requests_matched": count.requests_matched,
            "faults_injected": count.faults_injected,
            "faults_skipped": count.faults_skipped,
            "rate": count.rate,
        },
    }


def configured_rate(spec: dict[str, Any]) -> float:
    """The share of matching requests the scenario asked the fault to hit."""
    probability = spec.get("probability")
    return float(probability) if isinstance(probability, int | float) else 1.0


def _totals(run: Run) -> dict[str, Any]:
    ops = run.stats.tally(Slice("operation", journeys=False))
    attempts = run.stats.tally(Slice("attempt"))
    return {
        "operations": ops.count,
        "journeys": run.stats.tally(Slice("operation")).count - ops.count,
        "attempts": attempts.count,
        "unauthorized_accepted": metrics.unauthorized_accepted(attempts),
        "availability": {
            "attempt": metrics.availability(attempts),
            "operation": metrics.availability(ops),
        },
        "latency_ms": metrics.latency_percentiles(ops),
        "attempts_per_operation": metrics.attempts_per_operation(ops),
    }


def _precision(run: Run) -> dict[str, Any]:
    """How the latency percentiles were found: exact up to a group size, from the histogram past it."""
    sketched = sorted({part.describe() for part in run.stats.sketched})
    return {
        "exact_max_samples": quantiles.EXACT_MAX_SAMPLES,
        "sketch_relative_error": quantiles.SKETCH_RELATIVE_ERROR,
        "sketched": sketched,
    }


def _notes(run: Run) -> list[str]:
    notes = []
    status = run.journal.get("status", "unknown")
    if status not in COMPLETE_STATUSES:
        notes.append(f"the run did not finish (status {status}); the numbers cover only what was recorded")
    if not run.has_records:
        notes.append("no records: the run ended before any request was recorded")
    if run.stats.sketched:
        notes.append(
            f"latency percentiles of groups of more than {quantiles.EXACT_MAX_SAMPLES:,} samples come from a "
            f"log-bucket histogram and are within {quantiles.SKETCH_RELATIVE_ERROR:.2%} of the exact value: "
            + "; ".join(sorted({part.describe() for part in run.stats.sketched}))
        )
    unrun = [p.name for p in run.phases if p.start is None]
    if unrun:
        notes.append(f"phases never started: {', '.join(unrun)}")
    failed = [f.id for f in run.faults if f.error]
    if failed:
        notes.append(f"faults that reported an error: {', '.join(failed)}")
    workers = run.journal.get("workers") or []
    notes += [_worker_note(w, run.t0) for w in workers if w.get("complete") is False]
    lost = [e for e in run.journal.get("events") or [] if e.get("kind") == "worker_lost"]
    if lost and not workers:  # a journal from before the workers' coverage was recorded
        notes.append("load workers lost during the run: " + "; ".join(str(e.get("detail")) for e in lost))
    stop = run.journal.get("stop_condition")
    if stop and stop.get("probe"):
        notes.append(f"aborted by the stop condition {stop.get('condition')}: {stop.get('detail')}; every fault was "
                     "removed and the load stopped")  # fmt: skip
    elif stop:
        notes.append(
            f"aborted by the stop condition {stop.get('condition')}: observed {stop.get('observed', float('nan')):.4g}"
            f" over {stop.get('samples')} records; every fault was removed and the load stopped"
        )
    steady = run.journal.get("steady_state") or {}
    before, after = steady.get("before") or {}, steady.get("after") or {}
    if before.get("ok") is False:
        notes.append(f"the service was not healthy before the experiment: {before.get('detail')}")
    if run.journal.get("deviated"):
        notes.append(f"deviated: the steady state held before the experiment but not after it ({after.get('detail')})")
    return notes


def _worker(entry: dict[str, Any], t0: float) -> dict[str, Any]:
    """A load worker as the journal's coverage has it, with its missing span also relative to x = 0."""
    missing = entry.get("missing")
    relative = [round(float(missing[0]) - t0, 1), round(float(missing[1]) - t0, 1)] if missing else None
    return {**entry, "missing_s": relative}


def _worker_note(entry: dict[str, Any], t0: float) -> str:
    """Why a worker's records are not all here, and which seconds of the run they are missing for."""
    node, host = entry.get("node"), entry.get("host")
    missing = _worker(entry, t0)["missing_s"]
    span = f"its records from {missing[0]:.1f} s to {missing[1]:.1f} s are missing" if missing else "records missing"
    lost = entry.get("lost")
    if lost:
        how = "quit before the end" if lost.get("how") == "left" else "stopped answering"
        what = f"load worker {node} ({host}) {how} at {float(lost['at']) - t0:.1f} s, in phase {lost.get('phase')}"
    else:
        what = f"load worker {node} ({host}) did not send all its records home"
    records = entry.get("records") or {}
    held = int(records.get("attempts", 0)) + int(records.get("operations", 0))
    made = lost.get("made") if lost else None
    count = f"; it had written {made} records by its last report, {held} are here" if made else f"; {held} are here"
    return f"{what}: {span}{count}"


def _duration(started: Any, ended: Any) -> float | None:
    if isinstance(started, int | float) and isinstance(ended, int | float):
        return float(ended) - float(started)
    return None
