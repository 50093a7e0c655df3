"""A run directory for analysis: its scenario, journal, phase and fault windows, and its records, which stay
on disk (`Run.records`, DuckDB views) and are reduced on demand (`Run.stats`, harness.analysis.aggregate).

This is the reading edge of analysis. The journal (written by the orchestrator) is checked and turned into
small frozen values here, so nothing past this module handles the raw journal dict except to copy its
events and rollback steps into the report. A run that died early is still a run: missing shards give
empty views, missing journal times fall back to the next best time (asked instead of effective, the
phase end, the end of the observed data). Shards and compacted files read the same.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from harness.analysis.aggregate import JOURNEY_STEP, Aggregates
from harness.analysis.scan import Records
from harness.errors import InputError
from harness.scenario import Scenario, load_scenario

JOURNAL_FILE = "journal.json"
SCENARIO_FILE = "scenario.yaml"
RECORDS_DIR = "records"

# An operation record whose step is JOURNEY_STEP covers a whole journey (all its steps, end to end); the
# others cover one step each. Availability and recovery are judged on step operations, so that a failed
# step is not counted twice (once as itself, once as its journey).
__all__ = ["JOURNEY_STEP", "FaultWindow", "PhaseWindow", "Run", "load_run", "open_run"]

# The columns the live view keeps in memory for its last seconds of records (harness.run.watch).
ATTEMPT_COLUMNS = ("ts", "flow", "step", "endpoint", "attempt", "status", "outcome", "latency_ms", "phase")
OPERATION_COLUMNS = (
    "ts", "flow", "step", "attempts", "outcome", "status", "latency_ms", "backoff_ms", "phase", "intended_ts",
)  # fmt: skip


def step_operations(operations: pd.DataFrame) -> pd.DataFrame:
    """An in-memory frame of operation records without its whole-journey records (the live view's last
    seconds): what `Slice(journeys=False)` selects in a run's scans."""
    if "step" not in operations.columns:
        return operations
    journeys = operations["step"] == JOURNEY_STEP
    return operations if not journeys.any() else operations[~journeys]


@dataclass(frozen=True)
class PhaseWindow:
    """One phase of the scenario and when it actually ran (None: it never started)."""

    name: str
    planned_duration_s: float
    faults: tuple[dict[str, Any], ...]  # the scenario's fault specs for this phase
    start: float | None
    end: float | None

    @property
    def duration_s(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class FaultWindow:
    """One fault from the journal. `start`..`end` is when it was in effect, as well as we know."""

    id: str
    phase: str
    type: str
    spec: dict[str, Any]
    label: str
    apply_asked_at: float | None
    applied_at: float | None
    remove_asked_at: float | None
    removed_at: float | None
    error: str | None
    start: float
    end: float
    toxic: str | None = None  # the proxy toxic that carried it, for the proxy's counters

    @property
    def lateness_ms(self) -> float | None:
        """How long after it was asked for the fault took effect."""
        if self.applied_at is None or self.apply_asked_at is None:
            return None
        return (self.applied_at - self.apply_asked_at) * 1000.0


@dataclass(frozen=True)
class Run:
    """Everything analysis needs about one run directory. Holds a DuckDB connection: close it (or use the
    run as a context manager) when done."""

    run_dir: Path
    scenario: Scenario
    journal: dict[str, Any]
    records: Records
    stats: Aggregates
    phases: tuple[PhaseWindow, ...]
    faults: tuple[FaultWindow, ...]
    t0: float  # the test start: x = 0 on every time axis, window 0 of every time series
    data_end: float  # the last moment anything was observed

    @property
    def has_records(self) -> bool:
        return bool(self.stats.count("attempt") or self.stats.count("operation"))

    def phase(self, name: str) -> PhaseWindow | None:
        return next((p for p in self.phases if p.name == name), None)

    @cached_property
    def operations_per_second(self) -> pd.DataFrame:
        """Step operations (whole-journey records left out) per second: metrics' per-second table."""
        from harness.analysis import per_second

        return per_second.table(self.records, "operation", self.t0)

    @cached_property
    def attempts_per_second(self) -> pd.DataFrame:
        from harness.analysis import per_second

        return per_second.table(self.records, "attempt", self.t0)

    def close(self) -> None:
        self.records.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def load_run(run_dir: str | Path) -> Run:
    """Read scenario and journal of a run directory and open its records (either layout)."""
    run_dir = Path(run_dir)
    for name in (SCENARIO_FILE, JOURNAL_FILE):
        if not (run_dir / name).is_file():
            raise InputError(f"{run_dir}: no {name} here; is this a run directory?")
    scenario = load_scenario(run_dir / SCENARIO_FILE)
    journal = read_journal(run_dir / JOURNAL_FILE)
    return open_run(run_dir, scenario, journal)


def open_run(run_dir: Path, scenario: Scenario, journal: dict[str, Any], threads: int | None = None) -> Run:
    """A run over the records its directory holds now, with scenario and journal already in hand: the live
    view of a run still going judges its SLOs on one of these (the journal so far, the shards so far),
    through the same scans as the report (`threads`: DuckDB's; all this process may use by default)."""
    records = Records(run_dir / RECORDS_DIR, threads)
    try:
        stats = Aggregates(records)
        phases = phase_windows(scenario, journal, stats.spans())
        stats.set_phase_ends(phase_ends(scenario, journal))
        bounds = [stats.time_bounds(scope) for scope in ("attempt", "operation")]
        t0 = test_start(journal, phases, *(b[0] if b else None for b in bounds))
        data_end = observed_end(journal, max((b[1] for b in bounds if b), default=None), t0)
        faults = fault_windows(journal, phases, data_end)
    except BaseException:
        records.close()
        raise
    return Run(run_dir, scenario, journal, records, stats, phases, faults, t0, data_end)


def read_journal(path: Path) -> dict[str, Any]:
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the journal: {exc}") from None
    if not isinstance(journal, dict):
        raise InputError(f"{path}: the journal is a JSON object, this file holds {type(journal).__name__}")
    version = journal.get("schema_version")
    if version != 1:
        raise InputError(f"{path}: journal schema_version {version!r} is not supported (expected 1)")
    return journal


def phase_windows(
    scenario: Scenario, journal: dict[str, Any], spans: dict[str | None, tuple[float, float]]
) -> tuple[PhaseWindow, ...]:
    """Scenario phases in order with their journal times; a phase the journal lost is placed by its
    records (`spans`: first and last record time per phase)."""
    logged = {p.get("name"): p for p in journal.get("phases") or () if isinstance(p, dict)}
    run_end = _number(journal.get("ended_at"))
    windows: list[PhaseWindow] = []
    for i, phase in enumerate(scenario.phases):
        entry = logged.get(phase.name, {})
        start = _coalesce(_number(entry.get("start")), _number(entry.get("asked_start")))
        end = _number(entry.get("end"))
        span = spans.get(phase.name)
        if start is None and span is not None:
            start = span[0]
        if start is not None and end is None:
            end = _first(_next_start(scenario, logged, spans, i), run_end, span[1] if span else None, start)
        faults = tuple(f.model_dump(mode="json", exclude_none=True) for f in phase.faults)
        windows.append(PhaseWindow(phase.name, phase.duration_s, faults, start, end))
    return tuple(windows)


def phase_ends(scenario: Scenario, journal: dict[str, Any]) -> dict[str, float | None]:
    """When each phase ended, by the journal alone: its `end`, else the start of the next phase that
    started, else the end of the run; None for a phase that has not ended (read while it runs). What records
    "still in flight at the end of their phase" are measured against: never a guess from the records (a
    running phase's last record is not its end)."""
    logged = {p.get("name"): p for p in journal.get("phases") or () if isinstance(p, dict)}
    run_end = _number(journal.get("ended_at"))
    out: dict[str, float | None] = {}
    for i, phase in enumerate(scenario.phases):
        entry = logged.get(phase.name)
        if entry is None:
            out[phase.name] = None  # never started: it has no records either
            continue
        out[phase.name] = _coalesce(_number(entry.get("end")), _next_start(scenario, logged, {}, i), run_end)
    return out


def test_start(
    journal: dict[str, Any], phases: tuple[PhaseWindow, ...], first_attempt: float | None, first_operation: float | None
) -> float:
    candidates = [_number(journal.get("test_start"))]
    candidates += [p.start for p in phases]
    candidates += [first_attempt, first_operation, _number(journal.get("started_at"))]
    return next((c for c in candidates if c is not None), 0.0)


def observed_end(journal: dict[str, Any], last_record: float | None, t0: float) -> float:
    if last_record is not None:
        return last_record
    return _first(_number(journal.get("ended_at")), t0)


def fault_windows(journal: dict[str, Any], phases: tuple[PhaseWindow, ...], data_end: float) -> tuple[FaultWindow, ...]:
    by_name = {p.name: p for p in phases}
    out = []
    for i, entry in enumerate(journal.get("faults") or ()):
        if not isinstance(entry, dict):
            continue
        raw_spec = entry.get("spec")
        spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
        ftype = str(entry.get("type") or spec.get("type") or "fault")
        phase_name = str(entry.get("phase") or "")
        phase = by_name.get(phase_name)
        asked, applied = _number(entry.get("apply_asked_at")), _number(entry.get("applied_at"))
        remove_asked, removed = _number(entry.get("remove_asked_at")), _number(entry.get("removed_at"))
        start = _first(applied, asked, phase.start if phase else None, data_end)
        end = _first(removed, remove_asked, phase.end if phase else None, data_end)
        out.append(
            FaultWindow(
                id=str(entry.get("id") or f"fault.{i}"),
                phase=phase_name,
                type=ftype,
                spec=dict(spec),
                label=fault_label({"type": ftype, **spec}),
                apply_asked_at=asked,
                applied_at=applied,
                remove_asked_at=remove_asked,
                removed_at=removed,
                error=None if entry.get("error") is None else str(entry.get("error")),
                start=start,
                end=max(start, end),
                toxic=None if entry.get("toxic") is None else str(entry.get("toxic")),
            )
        )
    return tuple(out)


def fault_label(spec: dict[str, Any]) -> str:
    """A short human name for a fault, e.g. `http_error 503 p=0.3 token`."""
    ftype = str(spec.get("type", "fault"))
    parts = [ftype]
    if "status" in spec:
        parts.append(str(spec["status"]))
    if "latency_ms" in spec:
        jitter = spec.get("jitter_ms")
        parts.append(f"{_num(spec['latency_ms'])}ms" + (f"±{_num(jitter)}ms" if jitter else ""))
    if spec.get("probability") not in (None, 1, 1.0):
        parts.append(f"p={_num(spec['probability'])}")
    if spec.get("retry_after_s") is not None:
        parts.append(f"retry-after={_num(spec['retry_after_s'])}s")
    where = spec.get("endpoint") or spec.get("path")
    if where:
        parts.append(f"{spec['method']} {where}" if spec.get("method") else str(where))
    known = {"type", "status", "latency_ms", "jitter_ms", "probability", "retry_after_s", "endpoint", "path"}
    known |= {"method", "match"}
    parts += [f"{k}={_num(v)}" for k, v in sorted(spec.items()) if k not in known and v is not None]
    return " ".join(parts)


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _next_start(
    scenario: Scenario,
    logged: dict[Any, dict[str, Any]],
    spans: dict[str | None, tuple[float, float]],
    index: int,
) -> float | None:
    """When the first later phase started, by the journal or else by its first record."""
    for later in scenario.phases[index + 1 :]:
        entry = logged.get(later.name, {})
        start = _coalesce(_number(entry.get("start")), _number(entry.get("asked_start")))
        if start is None and later.name in spans:
            start = spans[later.name][0]
        if start is not None:
            return start
    return None


def _coalesce(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _first(*values: float | None) -> float:
    """The first known value; the last argument is always known."""
    found = _coalesce(*values)
    assert found is not None
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
