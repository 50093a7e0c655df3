"""Rows of the web UI's Resilience tab, from the scenario, the timeline and the live stats. Pure: the
web wiring (`webui.py`) only serves them, tests call `rows()` directly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.load.live import LiveStats, percentile
from harness.load.shape import stages
from harness.scenario.model import Scenario, Slo

WINDOW_S = 10.0
COLUMNS = [
    {"key": "section", "title": "Section"},
    {"key": "name", "title": "Name"},
    {"key": "value", "title": "Value"},
]
LATENCY_Q = {
    "latency_p50_ms": 0.50,
    "latency_p90_ms": 0.90,
    "latency_p95_ms": 0.95,
    "latency_p99_ms": 0.99,
    "latency_max_ms": 1.0,
}


def _pct(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.2f}%"


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


def slo_state(slo: Slo, live: LiveStats) -> tuple[float | None, str]:
    """(observed so far, state) for the metrics a live count can judge; the rest wait for the report."""
    kind = "a" if slo.scope == "attempt" else "o"
    observed: float | None
    if slo.flows is not None or slo.steps is not None:  # the live counts are per phase, not per flow
        return None, "judged after the run (per flow or step)"
    if slo.metric in ("availability", "error_rate"):
        observed = live.phases_total(kind, slo.phases).availability
        if observed is not None and slo.metric == "error_rate":
            observed = 1.0 - observed
    elif slo.metric == "attempts_per_operation":
        ops = live.phases_total("o", slo.phases)
        observed = ops.attempts / ops.n if ops.n else None
    elif slo.metric in LATENCY_Q:
        observed = percentile(live.phases_hist(slo.phases), LATENCY_Q[slo.metric])
    else:
        return None, "judged after the run"
    if observed is None:
        return None, "no data yet"
    held = observed >= slo.at_least if slo.at_least is not None else observed <= (slo.at_most or 0.0)
    return observed, "holding" if held else "VIOLATED"


def rows(
    scenario: Scenario,
    live: LiveStats,
    phase: str,
    active_faults: Sequence[str],
    state: str,
    lost_workers: Sequence[str] = (),
) -> list[dict[str, Any]]:
    out = [
        _row("now", "state", state),
        _row("now", "phase", phase or "(not started)"),
        _row("now", "active faults", ", ".join(active_faults) or "none"),
    ]
    if lost_workers:
        out.append(_row("now", "workers lost", ", ".join(lost_workers)))
    for scope, kind in (("attempt", "a"), ("operation", "o")):
        window = live.window(kind, WINDOW_S)
        n = sum(t.n for t in window.values())
        ok = sum(t.ok for t in window.values())
        total = live.phases_total(kind, None)
        value = f"{_pct(ok / n if n else None)} last {WINDOW_S:g} s ({n}); {_pct(total.availability)} run ({total.n})"
        out.append(_row("availability", scope, value))
    for step, tally in sorted(live.window("o", WINDOW_S).items()):
        out.append(_row("attempts per operation", step, f"{tally.attempts / tally.n:.2f} ({tally.n} ops)"))
    for step, p95 in sorted(live.window_p95_ms(WINDOW_S).items()):
        out.append(_row(f"p95 last {WINDOW_S:g} s", step, "no data" if p95 is None else f"{p95:.1f} ms"))
    for slo in scenario.slos:
        observed, verdict = slo_state(slo, live)
        bound = f">= {slo.at_least:g}" if slo.at_least is not None else f"<= {slo.at_most:g}"
        shown = "" if observed is None else f" ({observed:.4g} {bound})"
        out.append(_row("slo", slo.name, f"{verdict}{shown}"))
    return out + plan_rows(scenario)
