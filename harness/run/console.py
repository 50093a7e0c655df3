"""What a run prints while it goes: the timeline's phase and fault changes as they happen, and the
verdict at the end, so that a long run is never a silent one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.run.journal import WORKER_EVENTS, describe_worker_event, read_jsonl


class Progress:
    """Prints the timeline's phase and fault changes as they happen, so a long run is not a silent one."""

    def __init__(self, path: Path):
        self.path, self.seen = path, 0

    def print_new(self) -> None:
        events = read_jsonl(self.path)
        for ev in events[self.seen :]:
            line = describe(ev)
            if line:
                print(f"  {datetime.fromtimestamp(ev['ts'], UTC):%H:%M:%S} {line}", flush=True)
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


def print_verdict(summary: dict[str, Any], report_html: Path) -> None:
    for slo in summary.get("slos", []):
        observed = slo.get("observed")
        shown = "no data" if observed is None else f"{observed:.4g}"
        threshold = slo.get("threshold", {})
        bound = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in threshold.items())
        print(f"  {slo.get('verdict', '?').upper():<7} {slo['name']}: {shown} ({bound})")
    print(f"harness: verdict {summary.get('verdict', '?')}; report: {report_html}")
