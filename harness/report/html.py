"""`report.html`: one self-contained page (inline CSS, figures as base64 PNG, no script, no network).

It reads the summary dict only; every number shown was computed in `harness.analysis`. Everything that
comes from a file (names, descriptions, journal details) is escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

COMPLETE_STATUSES = ("completed", "failed")

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 2rem auto;
       max-width: 78rem; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.description { color: #444; margin-top: 0; }
.facts { color: #555; font-size: 13px; }
.badge { display: inline-block; padding: .1rem .55rem; border-radius: .8rem; font-weight: 600;
         font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
h1 .badge { font-size: 15px; vertical-align: middle; margin-left: .6rem; }
.pass { background: #dff3e4; color: #14632d; } .fail { background: #fbe0e0; color: #8a1414; }
.no_data { background: #fff1cc; color: #7a5200; }
.banner { border: 2px solid #c77700; background: #fff7e6; padding: .6rem 1rem; border-radius: .4rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: 13px; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.muted { color: #777; } figure { margin: 1rem 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
"""


def render_report(summary: Mapping[str, Any], figures: Mapping[str, tuple[str, bytes]]) -> str:
    """The page for one run; `figures` maps a name to (caption, PNG bytes), in display order."""
    scenario = summary.get("scenario") or {}
    title = f"{scenario.get('name', '?')}: resilience report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        _header(summary),
        _incomplete(summary),
        _section("Service level objectives", _slo_table(summary.get("slos") or [])),
        _section("Phases", _phase_table(summary)),
        _section("Faults", _fault_table(summary)),
        _section("Figures", _figures(figures)),
        _section("Events", _events(summary.get("events") or [], summary)),
        _section("Rollback", _rollback(summary.get("rollback") or [], summary)),
        f'<p class="muted">summary schema {escape(str(summary.get("schema_version")))}; '
        "the numbers on this page are those of summary.json.</p>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


# --- sections ----------------------------------------------------------------------------------------


def _header(summary: Mapping[str, Any]) -> str:
    scenario = summary.get("scenario") or {}
    verdict = str(summary.get("verdict", "fail"))
    facts = [
        f"run {_e(summary.get('run_id'))}",
        f"status {_e(summary.get('status'))}",
        f"started {_e(_utc(summary.get('started_at')))}",
        f"ended {_e(_utc(summary.get('ended_at')))}",
        f"duration {_e(_number(summary.get('duration_s'), 1))} s",
    ]
    if scenario.get("file"):
        facts.append(f"scenario file {_e(scenario.get('file'))}")
    return (
        f"<header><h1>{_e(scenario.get('name'))} {_badge(verdict)}</h1>"
        f'<p class="description">{_e(scenario.get("description") or "")}</p>'
        f'<p class="facts">{" · ".join(facts)}</p></header>'
    )


def _incomplete(summary: Mapping[str, Any]) -> str:
    notes = summary.get("notes") or []
    if summary.get("complete", False) and not notes:
        return ""
    heading = "" if summary.get("complete", False) else "<strong>Incomplete run.</strong> "
    items = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return f'<div class="banner" id="incomplete">{heading}<ul>{items}</ul></div>'


def _slo_table(slos: list[Mapping[str, Any]]) -> str:
    if not slos:
        return '<p class="muted">The scenario declares no SLO.</p>'
    rows = []
    for slo in slos:
        rows.append(
            [
                _e(slo.get("name")),
                _e(slo.get("metric")),
                _e(slo.get("scope")),
                _e(", ".join(slo.get("phases") or ["all"])),
                _e(_threshold(slo.get("threshold") or {})),
                _observed(slo),
                _badge(str(slo.get("verdict"))),
                _e(slo.get("message")),
            ]
        )
    head = ["SLO", "metric", "scope", "phases", "threshold", "observed", "verdict", "detail"]
    return _table(head, rows, table_id="slos", numeric={5})


def _phase_table(summary: Mapping[str, Any]) -> str:
    phases = summary.get("phases") or {}
    order = summary.get("phase_order") or list(phases)
    t0 = summary.get("test_start")
    rows = []
    for name in order:
        p = phases.get(name) or {}
        avail = p.get("availability") or {}
        lat = (p.get("latency_ms") or {}).get("operation") or {}
        rows.append(
            [
                _e(name),
                _e(_relative(p.get("start"), t0)),
                _e(_number(p.get("duration_s"), 1)),
                _e("; ".join(str(f.get("label") or f.get("type")) for f in p.get("faults") or []) or "—"),
                _e(p.get("operations")),
                _e(p.get("attempts")),
                _e(_ratio(avail.get("attempt"))),
                _e(_ratio(avail.get("operation")) + _interval(avail.get("operation_interval"))),
                _e(_number(lat.get("p50"), 1)),
                _e(_number(lat.get("p95"), 1)),
                _e(_number(lat.get("p99"), 1)),
                _e(_number(p.get("attempts_per_operation"), 3)),
                _e(_number(p.get("throughput_ops"), 2)),
                _e(", ".join(f"{k}: {v}" for k, v in (p.get("outcomes") or {}).items()) or "—"),
            ]
        )
    head = ["phase", "start (s)", "duration (s)", "faults", "operations", "attempts",
            "availability (attempt)", "availability (operation, 95% CI)", "p50 (ms)", "p95 (ms)", "p99 (ms)",
            "attempts/op", "throughput (ops/s)", "operation outcomes"]  # fmt: skip
    return _table(head, rows, table_id="phases", numeric=set(range(1, 13)) - {3})


def _fault_table(summary: Mapping[str, Any]) -> str:
    faults = summary.get("faults") or []
    if not faults:
        return '<p class="muted">No fault was applied.</p>'
    t0 = summary.get("test_start")
    rows = []
    for f in faults:
        recovered = f.get("recovered")
        rows.append(
            [
                _e(f.get("id")),
                _e(f.get("label") or f.get("type")),
                _e(f.get("phase")),
                _e(_relative(f.get("apply_asked_at"), t0)),
                _e(_relative(f.get("applied_at"), t0)),
                _e(_number(f.get("lateness_ms"), 1)),
                _e(_relative(f.get("removed_at"), t0)),
                _e(_number(f.get("time_to_detect_s"), 1)),
                _e(_number(f.get("time_to_recover_s"), 1)),
                _e("—" if recovered is None else ("yes" if recovered else "no")),
                _e(f.get("error") or ""),
            ]
        )
    head = ["fault", "what", "phase", "asked (s)", "applied (s)", "lateness (ms)", "removed (s)",
            "time to detect (s)", "time to recover (s)", "recovered", "error"]  # fmt: skip
    tolerance = summary.get("recovery_tolerance") or {}
    note = (
        f'<p class="muted">Times in seconds since the test start. A second is within tolerance when its '
        f"operation availability is at most {_e(tolerance.get('availability_drop'))} below the baseline "
        f"phase ({_e(summary.get('baseline_phase'))}) and its p95 at most "
        f"max({_e(tolerance.get('p95_factor'))} × baseline p95, baseline p95 + "
        f"{_e(tolerance.get('p95_slack_ms'))} ms).</p>"
    )
    return _table(head, rows, table_id="faults", numeric=set(range(3, 9))) + note


def _figures(figures: Mapping[str, tuple[str, bytes]]) -> str:
    if not figures:
        return '<p class="muted">No figure.</p>'
    out = []
    for name, (caption, png) in figures.items():
        data = base64.b64encode(png).decode("ascii")
        out.append(
            f'<figure id="figure-{_e(name)}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return "".join(out)


def _events(events: list[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    if not events:
        return '<p class="muted">The journal holds no event.</p>'
    t0 = summary.get("test_start")
    rows = [[_e(_relative(e.get("ts"), t0)), _e(e.get("kind")), _e(e.get("detail"))] for e in events]
    return _table(["time (s)", "event", "detail"], rows, table_id="events", numeric={0})


def _rollback(steps: list[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    if not steps:
        return '<p class="muted">No rollback step was recorded.</p>'
    t0 = summary.get("test_start")
    rows = [
        [
            _e(_relative(s.get("ts"), t0)),
            _e(s.get("action")),
            _badge("pass" if s.get("ok") else "fail", "ok" if s.get("ok") else "failed"),
            _e(s.get("detail")),
        ]
        for s in steps
    ]
    return _table(["time (s)", "action", "result", "detail"], rows, table_id="rollback", numeric={0})


# --- small pieces --------------------------------------------------------------------------------------


def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>{body}</section>"


def _table(head: list[str], rows: Iterable[list[str]], *, table_id: str, numeric: set[int]) -> str:
    """Cells are already escaped HTML."""
    thead = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<table id="{escape(table_id)}"><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>'


def _badge(verdict: str, text: str | None = None) -> str:
    css = verdict if verdict in ("pass", "fail", "no_data") else "fail"
    return f'<span class="badge {css}">{escape(text or verdict.replace("_", " "))}</span>'


def _e(value: Any) -> str:
    return escape("—" if value is None else str(value))


def _threshold(threshold: Mapping[str, Any]) -> str:
    if "at_least" in threshold:
        return f"≥ {_number(threshold['at_least'], 6)}"
    if "at_most" in threshold:
        return f"≤ {_number(threshold['at_most'], 6)}"
    return "?"


def _observed(slo: Mapping[str, Any]) -> str:
    observed = _number(slo.get("observed"), 6)
    return _e(observed + _interval(slo.get("interval")))


def _interval(interval: Any) -> str:
    if not interval:
        return ""
    return f" [{_number(interval[0], 4)}, {_number(interval[1], 4)}]"


def _ratio(value: Any) -> str:
    return _number(value, 4)


def _number(value: Any, decimals: int) -> str:
    """At most `decimals` decimals, trailing zeros dropped: 1000 stays 1000, 0.5500 is 0.55."""
    if value is None:
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = f"{float(value):.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def _relative(ts: Any, t0: Any) -> str:
    if not isinstance(ts, int | float) or not isinstance(t0, int | float):
        return "—"
    return f"{ts - t0:+.3f}"


def _utc(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
