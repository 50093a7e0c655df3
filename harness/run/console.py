"""What a run prints while it goes, so that a long run is never a silent one:

- the timeline's phase and fault changes as they happen;
- every `interval_s` (5 s by default) one line: elapsed time, phase, request rate, availability of
  operations (with its Wilson interval) and of attempts, operation p95, over the last few seconds of
  records (the line says how many), and each SLO's state so far (harness.run.live computes all of it);
- at the end one line per SLO with its unit, interval and objective (harness.report.wording, the same text
  as the JUnit file), the verdict, the exit code and where the report is.

`--progress json` prints the same as one JSON object a line (kind: start, event, progress, slo, verdict) on
stdout; `--quiet` prints only the end.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from harness.report import wording
from harness.run.journal import WORKER_EVENTS, describe_worker_event, read_jsonl

Mode = Literal["text", "json", "quiet"]
INTERVAL_S = 5.0


@dataclass
class Console:
    mode: Mode = "text"
    interval_s: float = INTERVAL_S
    out: TextIO = field(default_factory=lambda: sys.stdout)

    # --- the run's start and its timeline -----------------------------------------------------------

    def started(self, run_id: str, scenario: str, duration_s: float, run_dir: Path, scale: float = 1.0) -> None:
        scaled = f" (durations x{scale:g})" if scale != 1.0 else ""
        if self.mode == "json":
            self._json({"kind": "start", "run_id": run_id, "scenario": scenario, "planned_duration_s": duration_s,
                        "duration_scale": scale, "run_dir": str(run_dir)})  # fmt: skip
        else:
            self._print(f"harness: run {run_id}: {duration_s:g} s{scaled}, writing to {run_dir}")

    def event(self, ev: dict[str, Any]) -> None:
        line = describe(ev)
        if not line or self.mode == "quiet":
            return
        if self.mode == "json":
            self._json({"kind": "event", "event": ev.get("kind"), "ts": ev.get("ts"), "text": line})
        else:
            self._print(f"  {datetime.fromtimestamp(ev['ts'], UTC):%H:%M:%S} {line}")

    # --- every interval -----------------------------------------------------------------------------

    def progress(self, latest: dict[str, Any], slos: list[dict[str, Any]]) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "json":
            self._json({"kind": "progress", **latest, "slos": [_slo_state(s) for s in slos]})
            return
        self._print(progress_line(latest, slos))

    # --- the end --------------------------------------------------------------------------------------

    def finished(self, summary: dict[str, Any], report_html: Path | None) -> None:
        slos = summary.get("slos") or []
        if self.mode == "json":
            for slo in slos:
                self._json({"kind": "slo", **_slo_state(slo), "text": wording.slo_line(slo)})
            self._json({"kind": "verdict", "verdict": summary.get("verdict"), "status": summary.get("status"),
                        "exit_code": summary.get("exit_code"), "report": str(report_html) if report_html else None})
            return  # fmt: skip
        for slo in slos:
            self._print(f"  {wording.slo_line(slo)}")
        self._print(verdict_line(summary, report_html))

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _json(self, obj: dict[str, Any]) -> None:
        print(json.dumps(obj, sort_keys=True, allow_nan=False, default=str), file=self.out, flush=True)


class Progress:
    """Hands the timeline's new events to the console as they appear in the event log."""

    def __init__(self, path: Path, console: Console | None = None):
        self.path, self.seen = path, 0
        self.console = console or Console()

    def print_new(self) -> None:
        events = read_jsonl(self.path)
        for ev in events[self.seen :]:
            self.console.event(ev)
        self.seen = len(events)


def describe(ev: dict[str, Any]) -> str:
    kind = ev.get("kind")
    late_ms = (ev["ts"] - ev["asked_at"]) * 1000 if "asked_at" in ev and "ts" in ev else 0.0
    if kind == "phase_start":
        return f"phase {ev['phase']} started"
    if kind == "fault_applied":
        return f"fault {ev['fault_id']} ({ev['type']}) applied, {late_ms:.0f} ms after asked"
    if kind == "fault_removed":
        return f"fault {ev['fault_id']} removed, {late_ms:.0f} ms after asked"
    if kind == "fault_error":
        return f"fault {ev['fault_id']} could not be {ev.get('action')}d: {ev.get('error')}"
    if kind in WORKER_EVENTS:
        return describe_worker_event(ev)
    return ""


def progress_line(latest: dict[str, Any], slos: list[dict[str, Any]]) -> str:
    """`  01:25 brownout  41.8 req/s  ops 99.21% [97.9%, 99.7%]  attempts 86.1%  p95 312.4 ms (last 5 s)
    | SLOs: steady-availability holding 100%, retry-amplification VIOLATED 1.71 attempts/op (≤ 1.6 attempts/op)`"""
    elapsed = latest.get("elapsed_s")
    clock = "--:--" if elapsed is None else f"{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}"
    avail = latest.get("availability") or {}
    ops_interval = avail.get("operation_interval")
    parts = [
        f"  {clock} {latest.get('phase') or '(starting)':<12}",
        f"{latest.get('req_per_s', 0.0):.1f} req/s",
        f"ops {wording.value('availability', avail.get('operation'))}"
        + (f" {wording.interval('availability', ops_interval)}" if ops_interval else ""),
        f"attempts {wording.value('availability', avail.get('attempt'))}",
        f"p95 {wording.value('latency_p95_ms', latest.get('p95_ms'))} (last {latest.get('window_s', 0):g} s)",
    ]  # fmt: skip
    line = "  ".join(parts)
    if slos:
        line += " | SLOs: " + ", ".join(f"{s.get('name')} {wording.live_slo(s)}" for s in slos)
    return line


def verdict_line(summary: dict[str, Any], report_html: Path | None) -> str:
    held = sum(1 for s in summary.get("slos") or [] if s.get("verdict") == "pass")
    total = len(summary.get("slos") or [])
    return (
        f"harness: verdict {str(summary.get('verdict', '?')).upper()} ({held}/{total} SLOs held; status "
        f"{summary.get('status')}, exit code {summary.get('exit_code')}); report: {report_html}"
    )


def _slo_state(slo: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "metric", "state", "verdict", "observed", "interval", "interval_method", "threshold",
            "crosses_threshold")  # fmt: skip
    return {k: slo.get(k) for k in keys if k in slo}
