"""`report.html`: one self-contained page (inline CSS, figures as base64 PNG, no script, no network).

Order: the summary first (verdict, headline numbers, SLOs, what each fault did, error budgets), what was
tested (`tested.py`), then the figures, one section per phase and one per flow, the journal's events and
rollback, and the methods behind every interval. It reads the summary dict only; every number shown was
computed in `harness.analysis`, and reads as `wording` writes it (the console and JUnit use the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report import wording
from harness.report.htmlkit import (
    badge,
    cards,
    e,
    figure,
    interval,
    number,
    page,
    percent,
    relative,
    section,
    signed,
    table,
    utc,
)
from harness.report.tables import flows_section, phases_section
from harness.report.tested import methods_section, tested_section
from harness.report.workers import load_section, shown


def render_report(summary: Mapping[str, Any], figures: Mapping[str, tuple[str, bytes]]) -> str:
    """The page for one run; `figures` maps a name to (caption, PNG bytes), in display order."""
    scenario = summary.get("scenario") or {}
    return page(
        f"{scenario.get('name', '?')}: resilience report",
        [
            _header(summary),
            _incomplete(summary),
            section("Summary", _summary(summary), "summary"),
            section("What was tested", tested_section(summary), "what-was-tested"),
            section("Figures", _figures(figures), "figures"),
            section("Phases", phases_section(summary), "phases-section"),
            section("Flows", flows_section(summary), "flows"),
            section("Load", load_section(summary), "load-section") if shown(summary) else "",
            section("Events", _events(summary.get("events") or [], summary), "events-section"),
            section("Rollback", _rollback(summary.get("rollback") or [], summary), "rollback-section"),
            section("Methods", methods_section(summary), "methods-section"),
            f'<p class="muted">summary schema {e(summary.get("schema_version"))}; '
            "the numbers on this page are those of summary.json.</p>",
        ],
    )


# --- header and summary ------------------------------------------------------------------------------


def _header(summary: Mapping[str, Any]) -> str:
    scenario = summary.get("scenario") or {}
    config = summary.get("configuration") or {}
    facts = [
        f"run {e(summary.get('run_id'))}",
        f"status {e(summary.get('status'))}, exit code {e(summary.get('exit_code'))}",
        f"started {e(utc(summary.get('started_at')))}",
        f"ended {e(utc(summary.get('ended_at')))}",
        f"duration {e(number(summary.get('duration_s'), 1))} s",
    ]
    if scenario.get("file"):
        facts.append(f"scenario file {e(scenario.get('file'))}")
    scale = config.get("duration_scale") or 1.0
    scaled = ""
    if scale != 1.0:
        planned = config.get("planned_duration_s")
        scaled = (
            f'<p class="banner" id="scaled">Durations scaled by {e(f"{scale:g}")} (--duration-scale): the phases '
            f"were planned to last {e(number(planned, 1))} s in all; durations the description and hypothesis "
            "mention are those of the scenario file.</p>"
        )
    question = config.get("question")
    return (
        f"<header><h1>{e(scenario.get('name'))} {badge(str(summary.get('verdict', 'fail')))}</h1>"
        + (f'<p class="question"><strong>Question.</strong> {e(question)}</p>' if question else "")
        + f'<p class="description">{e(scenario.get("description") or "")}</p>{scaled}'
        f'<p class="facts">{" · ".join(facts)}</p></header>'
    )


def _incomplete(summary: Mapping[str, Any]) -> str:
    notes = summary.get("notes") or []
    if summary.get("complete", False) and not notes:
        return ""
    heading = "" if summary.get("complete", False) else "<strong>Incomplete run.</strong> "
    items = "".join(f"<li>{e(n)}</li>" for n in notes)
    return f'<div class="banner" id="incomplete">{heading}<ul>{items}</ul></div>'


def headline(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The few numbers a reader wants first, as (label, value) text; also used by the index page."""
    slos = summary.get("slos") or []
    totals = summary.get("totals") or {}
    phases = summary.get("phases") or {}
    p99 = {n: ((p.get("latency_ms") or {}).get("operation") or {}).get("p99") for n, p in phases.items()}
    worst_p99 = _first_max([(v, n) for n, v in p99.items()])
    amplification = _first_max([(p.get("attempts_per_operation"), n) for n, p in phases.items()])
    # the faults whose recovery was measured (each in its own window), as the time-to-recover SLO reads them
    recover = _first_max([(f.get("time_to_recover_s"), str(f.get("id"))) for f in summary.get("faults") or []])
    base = summary.get("baseline_phase")
    shown = wording.value
    return [
        ("SLOs held", f"{sum(1 for s in slos if s.get('verdict') == 'pass')} / {len(slos)}"),
        ("operations", number(totals.get("operations"), 0)),
        ("availability (operations)", shown("availability", (totals.get("availability") or {}).get("operation"))),
        (f"p99 in {base or 'baseline'} (ms)", shown("latency_p99_ms", p99.get(base) if base else None, unit=False)),
        (
            f"worst p99 (ms){f', {worst_p99[1]}' if worst_p99 else ''}",
            shown("latency_p99_ms", worst_p99[0] if worst_p99 else None, unit=False),
        ),
        (
            f"max attempts/op{f', {amplification[1]}' if amplification else ''}",
            shown("attempts_per_operation", amplification[0] if amplification else None, unit=False),
        ),
        (
            f"worst time to recover (s){f', {recover[1]}' if recover else ''}",
            shown("time_to_recover_s", recover[0] if recover else None, unit=False),
        ),
        ("unauthorized accepted", number(totals.get("unauthorized_accepted"), 0)),
    ]


def _first_max(pairs: list[tuple[Any, str]]) -> tuple[float, str] | None:
    """The largest (value, phase), the earliest phase on a tie."""
    best: tuple[float, str] | None = None
    for value, name in pairs:
        if isinstance(value, int | float) and (best is None or value > best[0]):
            best = (float(value), name)
    return best


def _summary(summary: Mapping[str, Any]) -> str:
    return "".join(
        [
            cards(headline(summary), "headline"),
            "<h3>Service level objectives</h3>",
            _slo_table(summary.get("slos") or []),
            "<h3>What the faults did</h3>",
            _fault_story(summary),
            _fault_table(summary),
            "<h3>Error budgets</h3>",
            _budget_table(summary.get("error_budgets") or []),
        ]
    )


def _slo_table(slos: list[Mapping[str, Any]]) -> str:
    if not slos:
        return '<p class="muted">The scenario declares no SLO.</p>'
    rows = [
        [
            e(slo.get("name")),
            e(slo.get("metric")),
            e(slo.get("scope")),
            e(", ".join(slo.get("phases") or ["all"])),
            e(wording.threshold(str(slo.get("metric")), slo.get("threshold") or {})),
            _observed(slo),
            badge(str(slo.get("verdict")))
            + (' <span class="uncertain" title="the 95% interval reaches across the objective">not conclusive'
               "</span>" if slo.get("crosses_threshold") else ""),
            e(slo.get("message")),
        ]
        for slo in slos
    ]  # fmt: skip
    head = ["SLO", "metric", "scope", "phases", "objective", "observed (95% interval)", "verdict", "detail"]
    return table(head, rows, table_id="slos", numeric={5})


def _observed(slo: Mapping[str, Any]) -> str:
    metric = str(slo.get("metric"))
    text = e(wording.value(metric, slo.get("observed")))
    if slo.get("interval"):
        ci = f"{wording.interval(metric, slo['interval'])} {wording.method(slo.get('interval_method'))}"
        text += f'<span class="ci">{e(ci)}</span>'
    return text


def _fault_story(summary: Mapping[str, Any]) -> str:
    """One sentence per fault: what it changed against the baseline, and how fast it was seen and left."""
    phases = summary.get("phases") or {}
    items = []
    for f in summary.get("faults") or []:
        vs = (phases.get(f.get("phase")) or {}).get("vs_baseline") or {}
        avail = vs.get("availability") or {}
        p99 = ((vs.get("latency") or {}).get("percentile_differences_ms") or {}).get("p99") or {}
        parts = [f"<strong>{e(f.get('label'))}</strong> during {e(f.get('phase'))}:"]
        if avail:
            parts.append(
                f"operation availability changed by {e(signed(avail.get('difference'), 4))}"
                f"{e(interval(avail.get('interval'), 4, True))}"
                f" (Newcombe 95%) against {e(summary.get('baseline_phase'))}"
                f" ({_p(avail)}),"
            )
        if p99:
            parts.append(f"p99 {e(signed(p99.get('difference'), 1))} ms{e(interval(p99.get('interval'), 1, True))};")
        parts.append(f"detected after {e(number(f.get('time_to_detect_s'), 2))} s,")
        parts.append(_recovered_text(f))
        parts.append(f"Injected: {e(_injected(f))} (configured {e(percent(f.get('configured_rate'), 1))}).")
        items.append(f"<li>{' '.join(parts)}</li>")
    if not items:
        return '<p class="muted">No fault was applied.</p>'
    return f'<ul id="fault-story">{"".join(items)}</ul>'


def _recovered_text(fault: Mapping[str, Any]) -> str:
    ttr, recovered = fault.get("time_to_recover_s"), fault.get("recovered")
    if ttr is None:
        return f"time to recover {e(fault.get('recovery_note') or 'not measured')}."
    if recovered is False:
        return f"not recovered {e(number(ttr, 2))} s after removal (end of its recovery window)."
    return f"recovered {e(number(ttr, 2))} s after removal."


def _p(test: Mapping[str, Any]) -> str:
    if test.get("test") == "none":
        return "no test: no failure on either side"
    return f"p {e(wording.p_value(test.get('p_value')))}, {e(test.get('test'))}"


def _injected(fault: Mapping[str, Any]) -> str:
    injected = fault.get("injected")
    if not injected:
        return "not measured"
    if injected.get("rate") is None:
        return f"{injected.get('faults_injected')} faults (no HTTP request matched)"
    return f"{percent(injected.get('rate'), 1)} of {injected.get('requests_matched')} matched requests"


def _fault_table(summary: Mapping[str, Any]) -> str:
    faults = summary.get("faults") or []
    if not faults:
        return ""
    t0 = summary.get("test_start")
    rows = []
    for f in faults:
        recovered = f.get("recovered")
        rows.append(
            [
                e(f.get("id")),
                e(f.get("label") or f.get("type")),
                e(f.get("phase")),
                e(relative(f.get("apply_asked_at"), t0)),
                e(relative(f.get("applied_at"), t0)),
                e(number(f.get("lateness_ms"), 1)),
                e(relative(f.get("removed_at"), t0)),
                e(number(f.get("time_to_detect_s"), 2)),
                e(number(f.get("time_to_recover_s"), 2)),
                e(f.get("recovery_note") or "—" if recovered is None else ("yes" if recovered else "no")),
                e(percent(f.get("configured_rate"), 1)),
                e(_injected(f)),
                e(f.get("error") or ""),
            ]
        )
    head = ["fault", "what", "phase", "asked (s)", "applied (s)", "lateness (ms)", "removed (s)",
            "time to detect (s)", "time to recover (s)", "recovered", "configured rate", "injected rate (proxy)",
            "error"]  # fmt: skip
    tolerance = summary.get("recovery_tolerance") or {}
    note = (
        f'<p class="muted">Times in seconds since the test start. A second is within tolerance when its '
        f"operation availability is at most {e(tolerance.get('availability_drop'))} below the baseline "
        f"phase ({e(summary.get('baseline_phase'))}) and its p95 at most "
        f"max({e(tolerance.get('p95_factor'))} × baseline p95, baseline p95 + "
        f"{e(tolerance.get('p95_slack_ms'))} ms); each recovery is watched from the fault's removal until the next "
        "fault takes effect or the next phase ends. The injected rate is read from the proxy's counters "
        f"(proxy-metrics.txt); without that file it is not measured.</p>"
    )
    return table(head, rows, table_id="faults", numeric={3, 4, 5, 6, 7, 8, 10}) + note


def _budget_table(budgets: list[Mapping[str, Any]]) -> str:
    if not budgets:
        return '<p class="muted">No availability objective, so no error budget.</p>'
    rows = [
        [
            e(b.get("slo")),
            e(b.get("scope")),
            e(", ".join(b.get("phases") or ["all"])),
            e(percent(b.get("target"), 3)),
            e(b.get("total")),
            e(b.get("failed")),
            e(number(b.get("allowed_failures"), 1)),
            e(percent(b.get("burned"), 1)),
        ]
        for b in budgets
    ]
    head = ["SLO", "scope", "phases", "objective", "records", "failed", "failures allowed", "budget burned"]
    return table(head, rows, table_id="error-budget", numeric=set(range(3, 8)))


def _figures(figures: Mapping[str, tuple[str, bytes]]) -> str:
    if not figures:
        return '<p class="muted">No figure.</p>'
    return "".join(figure(name, caption, png) for name, (caption, png) in figures.items())


# --- journal -------------------------------------------------------------------------------------------


def _events(events: list[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    if not events:
        return '<p class="muted">The journal holds no event.</p>'
    t0 = summary.get("test_start")
    rows = [[e(relative(ev.get("ts"), t0)), e(ev.get("kind")), e(ev.get("detail"))] for ev in events]
    return table(["time (s)", "event", "detail"], rows, table_id="events", numeric={0})


def _rollback(steps: list[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    if not steps:
        return '<p class="muted">No rollback step was recorded.</p>'
    t0 = summary.get("test_start")
    rows = [
        [
            e(relative(s.get("ts"), t0)),
            e(s.get("action")),
            badge("pass" if s.get("ok") else "fail", "ok" if s.get("ok") else "failed"),
            e(s.get("detail")),
        ]
        for s in steps
    ]
    return table(["time (s)", "action", "result", "detail"], rows, table_id="rollback", numeric={0})
