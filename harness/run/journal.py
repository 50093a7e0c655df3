"""journal.json: what happened in a run, in the spirit of Chaos Toolkit's journal.

Written when the run starts (status "running"), again whenever something changes, and at the end; each
write replaces the file atomically, so a reader never sees half of it. Phase and fault times come from
the timeline's event log (`timeline.jsonl`, written live by the Locust process) folded in by `fold`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.scenario import Scenario
from harness.scenario.catalog import resolved_yaml

SCHEMA_VERSION = 1


def scenario_entry(scenario: Scenario, source: Path, duration_scale: float = 1.0) -> dict[str, Any]:
    """The journal's `scenario`: its name, its file, the hash of its resolved form, and the scale its
    durations were run at (`--duration-scale`; `duration_s` is the scaled, planned duration)."""
    text = resolved_yaml(scenario)
    return {
        "name": scenario.name,
        "description": scenario.description,
        "file": str(source),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "duration_s": scenario.duration_s,
        "duration_scale": duration_scale,
    }


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("sso-resilience-harness", "locust", "tenacity", "pyarrow", "pandas"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


@dataclass
class Journal:
    path: Path
    run_id: str
    scenario: dict[str, Any]
    status: str = "running"
    exit_code: int | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    test_start: float | None = None
    services: dict[str, Any] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rollback: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # "before"/"after": {ts, ok, detail, probes}; "during": every probe check made during the load
    steady_state: dict[str, Any] = field(default_factory=dict)
    stop_condition: dict[str, Any] | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)  # who joined, and their records (coverage.py)

    @property
    def deviated(self) -> bool | None:
        """Chaos Toolkit's sense: the steady state held before the experiment and not after it."""
        before, after = self.steady_state.get("before"), self.steady_state.get("after")
        if before is None or after is None:
            return None
        if before.get("ok") is None or after.get("ok") is None:
            return None  # not probed
        return bool(before["ok"] and not after["ok"])

    def event(self, kind: str, detail: str = "", **extra: Any) -> None:
        self.events.append({"ts": time.time(), "kind": kind, "detail": detail, **extra})
        self.write()

    def rollback_step(self, action: str, ok: bool, detail: str = "") -> None:
        self.rollback.append({"ts": time.time(), "action": action, "ok": ok, "detail": detail})
        self.write()

    def fold(self, timeline_events: list[dict[str, Any]]) -> None:
        """Rebuild phases and faults from the timeline's events (idempotent: call as often as you like)."""
        phases: dict[str, dict[str, Any]] = {}
        faults: dict[str, dict[str, Any]] = {}
        probes: list[dict[str, Any]] = []
        for ev in timeline_events:
            kind = ev.get("kind")
            if kind == "probe":  # a steady-state probe's check during the load (harness.run.steady)
                probes.append({k: v for k, v in ev.items() if k != "kind"})
            elif kind == "timeline_start" and self.test_start is None:
                self.test_start = ev.get("asked_at")
            elif kind in WORKER_EVENTS:
                self._fold_event(ev)
            elif kind == "phase_start":
                name = ev["phase"]
                phases[name] = {"name": name, "asked_start": ev["asked_at"], "start": ev["ts"], "end": None}
            elif kind in ("phase_end", "timeline_stop") and ev.get("phase") in phases:
                # a stop ends the phase it interrupted; a later phase_end never comes
                phases[ev["phase"]]["end"] = phases[ev["phase"]]["end"] or ev["ts"]
            elif kind in ("fault_applied", "fault_error") and ev.get("action", "apply") == "apply":
                faults[ev["fault_id"]] = {
                    "id": ev["fault_id"],
                    "phase": ev["phase"],
                    "type": ev.get("type"),
                    "spec": ev.get("spec", {}),
                    "toxic": ev.get("toxic"),
                    "apply_asked_at": ev["asked_at"],
                    "applied_at": ev["ts"] if kind == "fault_applied" else None,
                    "remove_asked_at": None,
                    "removed_at": None,
                    "error": ev.get("error"),
                }
            elif kind in ("fault_removed", "fault_error") and ev.get("fault_id") in faults:
                fault = faults[ev["fault_id"]]
                fault["remove_asked_at"] = ev["asked_at"]
                if kind == "fault_removed":
                    fault["removed_at"] = ev["ts"]
                else:
                    fault["error"] = ev.get("error")
        self.phases = list(phases.values())
        self.faults = list(faults.values())
        if probes:
            self.steady_state["during"] = probes

    def _fold_event(self, ev: dict[str, Any]) -> None:
        """A load-side event (a lost worker, the workers' final flush) joins `events` once."""
        if any(e.get("kind") == ev["kind"] and e.get("ts") == ev.get("ts") and e.get("node") == ev.get("node")
               for e in self.events):
            return
        detail = describe_worker_event(ev)
        extra = {k: v for k, v in ev.items() if k not in ("kind", "ts")}
        self.events.append({"ts": ev.get("ts"), "kind": ev["kind"], "detail": detail, **extra})

    def close(self, status: str, timeline_events: list[dict[str, Any]]) -> None:
        """The run is over: fold the timeline a last time, and credit the rollback's verified cleanup with
        removing faults the load ended before its timeline could remove them."""
        self.fold(timeline_events)
        cleaned = [s for s in self.rollback if s["action"] == "remove faults" and s["ok"]]
        for fault in self.faults:
            if fault["applied_at"] is not None and fault["removed_at"] is None and cleaned:
                fault["remove_asked_at"] = fault["remove_asked_at"] or cleaned[0]["ts"]
                fault["removed_at"], fault["removed_by"] = cleaned[0]["ts"], "rollback"
        self.status = status
        self.ended_at = time.time()
        self.write()

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "scenario": self.scenario,
            "host": socket.gethostname(),
            "versions": _versions(),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "test_start": self.test_start,
            "services": self.services,
            "phases": self.phases,
            "faults": self.faults,
            "events": self.events,
            "rollback": self.rollback,
            "errors": self.errors,
            "steady_state": self.steady_state,
            "deviated": self.deviated,
            "stop_condition": self.stop_condition,
            "workers": self.workers,
        }

    def write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


WORKER_EVENTS = ("worker_joined", "worker_refused", "workers_missing", "worker_lost", "workers_flushed",
                 "records_home")  # fmt: skip


def describe_worker_event(ev: dict[str, Any]) -> str:
    kind = ev["kind"]
    if kind == "worker_joined":
        where = "remote" if ev.get("remote") else "local"
        return (f"{where} worker {ev.get('node')} joined: host {ev.get('host')}, pid {ev.get('pid')}, "
                f"{ev.get('cores')} cores, harness {ev.get('version')}")  # fmt: skip
    if kind == "worker_refused":
        return f"worker {ev.get('node')} on {ev.get('host')} refused: {ev.get('reason')}"
    if kind == "workers_missing":
        return f"{len(ev.get('joined') or [])} of {ev.get('expected')} workers joined within {ev.get('waited_s')} s"
    if kind == "worker_lost":
        how = "quit before the end" if ev.get("how") == "left" else "stopped answering"
        return f"worker {ev.get('node')} {how} in phase {ev.get('phase')}; the run goes on"
    if kind == "records_home":
        state = "all" if ev.get("complete") else f"not all ({len(ev.get('missing') or [])} shards missing)"
        return f"records of {ev.get('node')} home: {state}; {ev.get('files')} shards, {ev.get('bytes')} bytes"
    return f"{ev.get('acks')}/{ev.get('expected')} workers flushed {ev.get('written')} records"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Whole lines only: a line being written at this moment is left for the next read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines(keepends=True):
        if line.endswith("\n") and line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
