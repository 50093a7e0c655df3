"""Rows of the web UI's Resilience tab table, from the scenario and the current test's `live.json`.

The numbers and their wording come from the orchestrator (harness.run.live: the analysis functions on the
records, worded as the console and the report word them); this module only lays them out as Locust's
table wants them. Pure: the web wiring (`webui.py`) serves them, tests call `rows()` directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.load.shape import stages
from harness.scenario.model import Scenario

COLUMNS = [
    {"key": "section", "title": "Section"},
    {"key": "name", "title": "Name"},
    {"key": "value", "title": "Value"},
]


def _row(section: str, name: str, value: str) -> dict[str, str]:
    return {"section": section, "name": name, "value": value}


def plan_rows(scenario: Scenario) -> list[dict[str, str]]:
    """What the scenario will do: shown before the start, and kept under the live rows."""
    out = [_row("plan", "scenario", f"{scenario.name}: {scenario.description.strip()}"[:300])]
    arrival = scenario.load.arrival
    for stage in stages(scenario):
        out.append(_row("plan", f"stage {stage.phase}", f"{stage.describe()} [{arrival}]"))
    for phase in scenario.phases:
        for n, fault in enumerate(phase.faults):
            spec = fault.model_dump(mode="json", exclude_none=True)
            detail = ", ".join(f"{k}={v}" for k, v in spec.items())
            out.append(_row("plan", f"fault {phase.name}.{n}", detail))
    return out


def rows(
    scenario: Scenario, live: dict[str, Any] | None, state: str, lost_workers: Sequence[str] = ()
) -> list[dict[str, Any]]:
    out = [_row("now", "state", state)]
    if lost_workers:
        out.append(_row("now", "workers lost", ", ".join(lost_workers)))
    if not live:
        out.append(_row("now", "test", "none yet: start one in the form"))
        return out + plan_rows(scenario)
    shown = live.get("display") or {}
    latest = live.get("latest") or {}
    active = [f"{f.get('name')} ({f.get('label')})" for f in live.get("faults") or [] if f.get("end_s") is None]
    window = str(shown.get("window", "last seconds"))
    out += [
        _row("now", "test", f"{live.get('run_id')} ({live.get('scenario')})"),
        _row("now", "phase", str(latest.get("phase") or "(not started)")),
        _row("now", "active faults", ", ".join(active) or "none"),
        _row(window, "request rate", str(shown.get("rate", ""))),
        _row(window, "availability (operations)", str(shown.get("availability_operation"))),
        _row(window, "availability (attempts)", str(shown.get("availability_attempt"))),
        _row(window, "p95 (operations)", str(shown.get("p95"))),
    ]
    for slo in shown.get("slos") or []:
        out.append(_row("slo so far", str(slo.get("name")), f"{slo.get('text')}; objective {slo.get('objective')}"))
    ended = live.get("ended")
    if ended:
        out.append(_row("result", "verdict", str(ended.get("text"))))
        out.append(_row("result", "report", str(ended.get("report"))))
    return out + plan_rows(scenario)
