"""A run directory as frames: the attempt and operation records, the phase windows and the fault windows.

This is the reading edge of analysis. The journal (written by the orchestrator) is checked and turned into
small frozen values here, so nothing past this module handles the raw journal dict except to copy its
events and rollback steps into the report. A run that died early is still a run: missing shards give
empty frames, missing journal times fall back to the next best time (asked instead of effective, the
phase end, the end of the observed data).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import InputError
from harness.records import read_records
from harness.scenario import Scenario, load_scenario

JOURNAL_FILE = "journal.json"
SCENARIO_FILE = "scenario.yaml"
RECORDS_DIR = "records"

# Only the columns analysis uses: records may be millions of rows, and per-record strings (op_id, user,
# node, error) would take most of the memory. The few-valued strings become pandas categoricals.
ATTEMPT_COLUMNS = ("ts", "flow", "step", "endpoint", "attempt", "status", "outcome", "latency_ms", "phase")
OPERATION_COLUMNS = (
    "ts", "flow", "step", "attempts", "outcome", "status", "latency_ms", "backoff_ms", "phase", "intended_ts",
)  # fmt: skip

# An operation record whose step is this one covers a whole journey (all its steps, end to end); the
# others cover one step each. Availability and recovery are judged on step operations, so that a failed
# step is not counted twice (once as itself, once as its journey).
JOURNEY_STEP = "journey"


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
    """Everything analysis needs about one run directory."""

    run_dir: Path
    scenario: Scenario
    journal: dict[str, Any]
    attempts: pd.DataFrame
    operations: pd.DataFrame
    phases: tuple[PhaseWindow, ...]
    faults: tuple[FaultWindow, ...]
    t0: float  # the test start: x = 0 on every time axis, window 0 of every time series
    data_end: float  # the last moment anything was observed

    @property
    def has_records(self) -> bool:
        return not (self.attempts.empty and self.operations.empty)

    def phase(self, name: str) -> PhaseWindow | None:
        return next((p for p in self.phases if p.name == name), None)

    @cached_property
    def step_operations(self) -> pd.DataFrame:
        """Operations of one step each (whole-journey records left out): what availability is judged on."""
        return step_operations(self.operations)


def step_operations(operations: pd.DataFrame) -> pd.DataFrame:
    if "step" not in operations.columns:
        return operations
    journeys = operations["step"] == JOURNEY_STEP
    return operations if not journeys.any() else operations[~journeys]


def load_run(run_dir: str | Path) -> Run:
    """Read scenario, journal and record shards of a run directory."""
    run_dir = Path(run_dir)
    for name in (SCENARIO_FILE, JOURNAL_FILE):
        if not (run_dir / name).is_file():
            raise InputError(f"{run_dir}: no {name} here; is this a run directory?")
    scenario = load_scenario(run_dir / SCENARIO_FILE)
    journal = read_journal(run_dir / JOURNAL_FILE)
    attempts = read_frame(run_dir / RECORDS_DIR, "attempts", ATTEMPT_COLUMNS)
    operations = read_frame(run_dir / RECORDS_DIR, "operations", OPERATION_COLUMNS)
    return run_of(run_dir, scenario, journal, attempts, operations)


def run_of(
    run_dir: Path, scenario: Scenario, journal: dict[str, Any], attempts: pd.DataFrame, operations: pd.DataFrame
) -> Run:
    """A run from records already in memory (the live view of a run still going reads its own)."""
    phases = phase_windows(scenario, journal, attempts, operations)
    t0 = test_start(journal, phases, attempts, operations)
    data_end = observed_end(journal, attempts, operations, t0)
    faults = fault_windows(journal, phases, data_end)
    return Run(run_dir, scenario, journal, attempts, operations, phases, faults, t0, data_end)


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


def read_frame(records_dir: Path, kind: str, columns: tuple[str, ...]) -> pd.DataFrame:
    table = read_records(records_dir, kind, columns)
    # self_destruct hands each column back to the Arrow pool as soon as it is converted: a lower peak.
    frame = table.to_pandas(strings_to_categorical=True, self_destruct=True, split_blocks=True)
    del table
    if frame["ts"].is_monotonic_increasing:
        return frame
    return frame.sort_values("ts", kind="stable", ignore_index=True)


def phase_windows(
    scenario: Scenario, journal: dict[str, Any], attempts: pd.DataFrame, operations: pd.DataFrame
) -> tuple[PhaseWindow, ...]:
    """Scenario phases in order with their journal times; a phase the journal lost is placed by its
    records."""
    logged = {p.get("name"): p for p in journal.get("phases") or () if isinstance(p, dict)}
    spans = _record_spans(attempts, operations)
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


def test_start(
    journal: dict[str, Any], phases: tuple[PhaseWindow, ...], attempts: pd.DataFrame, operations: pd.DataFrame
) -> float:
    candidates = [_number(journal.get("test_start"))]
    candidates += [p.start for p in phases]
    candidates += [_min_ts(attempts), _min_ts(operations), _number(journal.get("started_at"))]
    return next((c for c in candidates if c is not None), 0.0)


def observed_end(journal: dict[str, Any], attempts: pd.DataFrame, operations: pd.DataFrame, t0: float) -> float:
    last = [t for t in (_max_ts(attempts), _max_ts(operations)) if t is not None]
    if last:
        return max(last)
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


def _record_spans(attempts: pd.DataFrame, operations: pd.DataFrame) -> dict[str, tuple[float, float]]:
    both = pd.concat([attempts[["phase", "ts"]], operations[["phase", "ts"]]], ignore_index=True)
    if both.empty:
        return {}
    grouped = both.groupby("phase", observed=True)["ts"].agg(["min", "max"])
    return {str(name): (float(row["min"]), float(row["max"])) for name, row in grouped.iterrows()}


def _next_start(
    scenario: Scenario,
    logged: dict[Any, dict[str, Any]],
    spans: dict[str, tuple[float, float]],
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


def _min_ts(frame: pd.DataFrame) -> float | None:
    return None if frame.empty else float(frame["ts"].min())


def _max_ts(frame: pd.DataFrame) -> float | None:
    return None if frame.empty else float(frame["ts"].max())


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
