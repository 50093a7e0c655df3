"""`report.html`: one self-contained page (inline CSS, figures as base64 PNG, no script, no network).

Order: the summary first (verdict, headline numbers, SLOs, what each fault did, error budgets), then the
figures, then one section per phase and one per flow, then the journal's events and rollback. It reads
the summary dict only; every number shown was computed in `harness.analysis`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.htmlkit import (
    badge,
    cards,
    counts,
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
    threshold,
    utc,
)
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
            section("Figures", _figures(figures), "figures"),
            section("Phases", _phases(summary), "phases-section"),
            section("Flows", _flows(summary), "flows"),
            section("Load", load_section(summary), "load-section") if shown(summary) else "",
            section("Events", _events(summary.get("events") or [], summary), "events-section"),
            section("Rollback", _rollback(summary.get("rollback") or [], summary), "rollback-section"),
            f'<p class="muted">summary schema {e(summary.get("schema_version"))}; '
            "the numbers on this page are those of summary.json.</p>",
        ],
    )


# --- header and summary ------------------------------------------------------------------------------


def _header(summary: Mapping[str, Any]) -> str:
    scenario = summary.get("scenario") or {}
    facts = [
        f"run {e(summary.get('run_id'))}",
        f"status {e(summary.get('status'))}",
        f"started {e(utc(summary.get('started_at')))}",
        f"ended {e(utc(summary.get('ended_at')))}",
        f"duration {e(number(summary.get('duration_s'), 1))} s",
    ]
    if scenario.get("file"):
        facts.append(f"scenario file {e(scenario.get('file'))}")
    return (
        f"<header><h1>{e(scenario.get('name'))} {badge(str(summary.get('verdict', 'fail')))}</h1>"
        f'<p class="description">{e(scenario.get("description") or "")}</p>'
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
    recover = [
        f.get("time_to_recover_s") for f in summary.get("faults") or [] if f.get("time_to_recover_s") is not None
    ]
    base = summary.get("baseline_phase")
    return [
        ("SLOs held", f"{sum(1 for s in slos if s.get('verdict') == 'pass')} / {len(slos)}"),
        ("operations", number(totals.get("operations"), 0)),
        ("availability (operations)", percent(((totals.get("availability") or {}).get("operation")), 3)),
        (f"p99 in {base or 'baseline'} (ms)", number(p99.get(base) if base else None, 1)),
        (f"worst p99 (ms){f', {worst_p99[1]}' if worst_p99 else ''}", number(worst_p99[0] if worst_p99 else None, 1)),
        (
            f"max attempts/op{f', {amplification[1]}' if amplification else ''}",
            number(amplification[0] if amplification else None, 3),
        ),
        ("worst time to recover (s)", number(max(recover) if recover else None, 1)),
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
            e(threshold(slo.get("threshold") or {})),
            e(number(slo.get("observed"), 6) + interval(slo.get("interval"))),
            badge(str(slo.get("verdict"))),
            e(slo.get("message")),
        ]
        for slo in slos
    ]
    head = ["SLO", "metric", "scope", "phases", "threshold", "observed", "verdict", "detail"]
    return table(head, rows, table_id="slos", numeric={5})


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
                f" against {e(summary.get('baseline_phase'))} (p={e(number(avail.get('p_value'), 4))}),"
            )
        if p99:
            parts.append(f"p99 {e(signed(p99.get('difference'), 1))} ms{e(interval(p99.get('interval'), 1, True))};")
        parts.append(f"detected after {e(number(f.get('time_to_detect_s'), 1))} s,")
        recovered = f.get("recovered")
        parts.append(
            f"recovered {e(number(f.get('time_to_recover_s'), 1))} s after removal."
            if recovered is not False
            else f"not recovered {e(number(f.get('time_to_recover_s'), 1))} s after removal."
        )
        parts.append(f"Injected: {e(_injected(f))} (configured {e(percent(f.get('configured_rate'), 1))}).")
        items.append(f"<li>{' '.join(parts)}</li>")
    if not items:
        return '<p class="muted">No fault was applied.</p>'
    return f'<ul id="fault-story">{"".join(items)}</ul>'


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
                e(number(f.get("time_to_detect_s"), 1)),
                e(number(f.get("time_to_recover_s"), 1)),
                e("—" if recovered is None else ("yes" if recovered else "no")),
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
        f"{e(tolerance.get('p95_slack_ms'))} ms). The injected rate is read from the proxy's counters "
        f"(proxy-metrics.txt); without that file it is not measured.</p>"
    )
    return table(head, rows, table_id="faults", numeric=set(range(3, 11))) + note


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


# --- per phase, per flow -----------------------------------------------------------------------------


def _phases(summary: Mapping[str, Any]) -> str:
    phases = summary.get("phases") or {}
    order = summary.get("phase_order") or list(phases)
    out = [_phase_table(summary, phases, order)]
    for name in order:
        out.append(section(f"Phase {name}", _phase_detail(summary, name, phases.get(name) or {}), f"phase-{name}", 3))
    return "".join(out)


def _phase_table(summary: Mapping[str, Any], phases: Mapping[str, Any], order: list[str]) -> str:
    t0 = summary.get("test_start")
    rows = []
    for name in order:
        p = phases.get(name) or {}
        avail = p.get("availability") or {}
        lat = (p.get("latency_ms") or {}).get("operation") or {}
        rows.append(
            [
                e(name),
                e(relative(p.get("start"), t0)),
                e(number(p.get("duration_s"), 1)),
                e("; ".join(str(f.get("label") or f.get("type")) for f in p.get("faults") or []) or "—"),
                e(p.get("operations")),
                e(p.get("attempts")),
                e(number(avail.get("attempt"), 4)),
                e(number(avail.get("operation"), 4) + interval(avail.get("operation_interval"))),
                e(number(lat.get("p50"), 1)),
                e(number(lat.get("p95"), 1)),
                e(number(lat.get("p99"), 1)),
                e(number(p.get("attempts_per_operation"), 3)),
                e(number(p.get("throughput_ops"), 2)),
                e(counts(p.get("outcomes"))),
            ]
        )
    head = ["phase", "start (s)", "duration (s)", "faults", "operations", "attempts",
            "availability (attempt)", "availability (operation, 95% CI)", "p50 (ms)", "p95 (ms)", "p99 (ms)",
            "attempts/op", "throughput (ops/s)", "operation outcomes"]  # fmt: skip
    return table(head, rows, table_id="phases", numeric=set(range(1, 13)) - {3})


def _phase_detail(summary: Mapping[str, Any], name: str, p: Mapping[str, Any]) -> str:
    lat = p.get("latency_ms") or {}
    facts = [
        f"p99.9 {e(number((lat.get('operation') or {}).get('p99.9'), 1))} ms",
        f"give-up rate {e(percent(p.get('give_up_rate'), 2))}",
        f"backoff share of waiting {e(percent(p.get('backoff_share'), 1))}",
        f"operation statuses {e(counts(p.get('statuses')))}",
        f"attempt statuses {e(counts(p.get('attempt_statuses')))}",
        f"unauthorized accepted {e(p.get('unauthorized_accepted'))}",
    ]
    if lat.get("open_loop"):
        facts.append(
            f"open-loop p99 {e(number(lat['open_loop'].get('p99'), 1))} ms vs closed-loop "
            f"{e(number((lat.get('closed_loop') or {}).get('p99'), 1))} ms"
        )
    out = [f'<p class="facts">{" · ".join(facts)}</p>', _vs_baseline(summary, name, p.get("vs_baseline"))]
    rows = [r for r in (summary.get("breakdown") or {}).get("operation") or [] if r.get("phase") == name]
    att = [r for r in (summary.get("breakdown") or {}).get("attempt") or [] if r.get("phase") == name]
    out.append(_breakdown_table(rows, att, f"breakdown-{name}", ("flow", "step")))
    return "".join(out)


def _vs_baseline(summary: Mapping[str, Any], name: str, vs: Mapping[str, Any] | None) -> str:
    if not vs:
        return ""
    rows = []
    avail = vs.get("availability")
    if avail:
        rows.append(["availability (operation)", e(signed(avail.get("difference"), 4)),
                     e(interval(avail.get("interval"), 4, True).strip()), e(number(avail.get("p_value"), 4)),
                     e(avail.get("test"))])  # fmt: skip
    latency = vs.get("latency") or {}
    for q, d in (latency.get("percentile_differences_ms") or {}).items():
        rows.append([f"{e(q)} latency (ms)", e(signed(d.get("difference"), 1)),
                     e(interval(d.get("interval"), 1, True).strip()), "", "bootstrap"])  # fmt: skip
    if latency:
        rows.append(["latency shift (Cliff's delta)", e(signed(latency.get("cliffs_delta"), 3)), "",
                     e(number(latency.get("p_value"), 4)), e(latency.get("test"))])  # fmt: skip
    head = [f"{name} minus {summary.get('baseline_phase')}", "difference", "95% interval", "p-value", "test"]
    return table(head, rows, table_id=f"vs-baseline-{name}", numeric={1, 2, 3})


def _breakdown_table(
    operations: list[Mapping[str, Any]], attempts: list[Mapping[str, Any]], table_id: str, keys: tuple[str, ...]
) -> str:
    if not operations and not attempts:
        return '<p class="muted">No record.</p>'
    by_key = {tuple(r.get(k) for k in keys): r for r in attempts}
    rows = []
    for r in operations:
        a = by_key.get(tuple(r.get(k) for k in keys)) or {}
        lat = r.get("latency_ms") or {}
        rows.append(
            [
                *(e(r.get(k) if r.get(k) is not None else "all") for k in keys),
                e(r.get("count")),
                e(number(r.get("throughput_per_s"), 2)),
                e(number(r.get("availability"), 4) + interval(r.get("availability_interval"))),
                e(number(a.get("availability"), 4)),
                *(e(number(lat.get(q), 1)) for q in ("p50", "p95", "p99", "p99.9")),
                e(number(r.get("attempts_per_operation"), 3)),
                e(percent(r.get("give_up_rate"), 2)),
                e(percent(r.get("backoff_share"), 1)),
                e(counts(r.get("outcomes"))),
                e(counts(a.get("statuses"))),
            ]
        )
    head = [*keys, "operations", "ops/s", "availability (operation, 95% CI)", "availability (attempt)",
            "p50 (ms)", "p95 (ms)", "p99 (ms)", "p99.9 (ms)", "attempts/op", "give-up", "backoff share",
            "operation outcomes", "attempt statuses"]  # fmt: skip
    n = len(keys)
    return table(head, rows, table_id=table_id, numeric=set(range(n, n + 10)))


def _flows(summary: Mapping[str, Any]) -> str:
    breakdown = summary.get("breakdown") or {}
    operations = breakdown.get("operation") or []
    attempts = breakdown.get("attempt") or []
    flows = sorted({str(r.get("flow")) for r in operations})
    if not flows:
        return '<p class="muted">No record.</p>'
    out = []
    for flow in flows:
        ops = [r for r in operations if r.get("flow") == flow]
        att = [r for r in attempts if r.get("flow") == flow]
        body = _breakdown_table(ops, att, f"flow-{flow}", ("step", "phase"))
        out.append(section(f"Flow {flow}", body, f"flow-section-{flow}", 3))
    return '<p class="muted">Per step, each phase, then the whole run (phase "all").</p>' + "".join(out)


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
