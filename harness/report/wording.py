"""How numbers read, the same everywhere: the console's final lines, report.html, junit.xml, the notebook
and the web UI's Resilience tab print an SLO, its interval and a p-value with these functions, so a number
that reads "99.43%" in one place never reads "0.9943" in another.

Units follow the metric: shares as percentages, latencies in ms, times in s, retry amplification in
attempts per operation, throughput in operations per second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analysis.metrics import in_flight_note
from harness.errors import InputError
from harness.scenario.judging import BUILTIN_METRICS, metric_plugins

SHARES = ("availability", "error_rate")
UNITS = {
    "attempts_per_operation": "attempts/op",
    "throughput_ops": "ops/s",
    "time_to_recover_s": "s",
    "unauthorized_accepted": "accepted",
}
METHOD_NAMES = {
    "wilson": "Wilson 95%",
    "order_statistic": "order statistics 95%",
    "student_t": "Student t 95%",
    "newcombe": "Newcombe 95%",
    "bootstrap": "bootstrap 95%",
}
P_FLOOR = 0.001


def _plugin(metric: str) -> Any:
    """The class of a metric plugin (its `share` and `unit` say how its numbers read), or None: one of ours,
    or a plugin not installed (or broken) where the report is read, whose numbers then read plainly."""
    if metric in BUILTIN_METRICS:
        return None
    try:
        return metric_plugins().get(metric)
    except InputError:
        return None


def _share(metric: str) -> bool:
    plugin = _plugin(metric)
    return metric in SHARES if plugin is None else bool(plugin.share)


def unit_of(metric: str) -> str:
    if _share(metric):
        return "%"
    if metric.startswith("latency_") and metric in BUILTIN_METRICS:
        return "ms"
    plugin = _plugin(metric)
    return str(plugin.unit) if plugin is not None else UNITS.get(metric, "")


def value(metric: str, x: Any, *, unit: bool = True) -> str:
    """One number of `metric` with its unit: 99.43%, 312.5 ms, 1.23 attempts/op, 0.49 s."""
    if not isinstance(x, int | float) or isinstance(x, bool):
        return "no data"
    if _share(metric):
        return f"{_trim(x * 100.0, 3 if 0.99 <= x < 1 or 0 < x <= 0.01 else 2)}%"
    if metric.startswith("latency_") and metric in BUILTIN_METRICS:
        text = _trim(x, 1)
    elif metric == "unauthorized_accepted":
        text = str(int(x))
    else:
        text = _trim(x, 3 if metric == "attempts_per_operation" else 2)
    u = unit_of(metric)
    return f"{text} {u}" if unit and u else text


def interval(metric: str, bounds: Any) -> str:
    """`[98.7%, 99.8%]`; an open bound (the sample cannot give it) reads as `…`. Empty without bounds."""
    if not bounds:
        return ""
    low, high = bounds
    shown = [("…" if b is None else value(metric, b, unit=_share(metric))) for b in (low, high)]
    u = "" if _share(metric) else f" {unit_of(metric)}".rstrip()
    return f"[{shown[0]}, {shown[1]}]{u}"


def threshold(metric: str, bound: Mapping[str, Any]) -> str:
    """`≥ 98%`, `≤ 1.6 attempts/op`."""
    if "at_least" in bound:
        return f"≥ {value(metric, bound['at_least'])}"
    if "at_most" in bound:
        return f"≤ {value(metric, bound['at_most'])}"
    return "?"


def method(key: Any) -> str:
    return METHOD_NAMES.get(str(key), str(key)) if key else ""


def p_value(p: Any) -> str:
    """`< 0.001` below it (a p-value is never 0), three significant figures above."""
    if not isinstance(p, int | float) or isinstance(p, bool):
        return "—"
    if p < P_FLOOR:
        return f"< {P_FLOOR:g}"
    return f"{p:.3g}"


def slo_observed(slo: Mapping[str, Any]) -> str:
    """`99.43% [98.69%, 99.77%] (Wilson 95%)`: the observed value, its interval and how it was found."""
    metric = str(slo.get("metric", ""))
    text = value(metric, slo.get("observed"))
    if slo.get("interval"):
        text += f" {interval(metric, slo['interval'])} ({method(slo.get('interval_method'))})"
    return text


def slo_verdict(slo: Mapping[str, Any]) -> str:
    """`PASS`, `FAIL`, `NO DATA`, with `?` when the interval reaches across the objective."""
    word = str(slo.get("verdict", "?")).replace("_", " ").upper()
    return f"{word}?" if slo.get("crosses_threshold") and slo.get("verdict") in ("pass", "fail") else word


def slo_line(slo: Mapping[str, Any]) -> str:
    """One line per SLO, as the console's final lines and the JUnit messages read:
    `PASS  brownout-availability: 99.43% [98.69%, 99.77%] (Wilson 95%); objective ≥ 98% over brownout`."""
    metric = str(slo.get("metric", ""))
    phases = ", ".join(slo.get("phases") or ["all phases"])
    observed = slo_observed(slo) if slo.get("verdict") != "no_data" else str(slo.get("message") or "no data")
    line = f"{slo_verdict(slo):<8} {slo.get('name')}: {observed}; objective "
    line += f"{threshold(metric, slo.get('threshold') or {})} over {phases}"
    if slo.get("crosses_threshold"):
        line += " (interval crosses the objective: not conclusive)"
    if note := in_flight(slo):
        line += f"; {note}"
    return line


def in_flight(slo: Mapping[str, Any]) -> str:
    """What an SLO with `in_flight_at_end: exclude` left out (`3 records still in flight at the end of phase
    slow left out`), "" for any other: the verdict message's own words (analysis.slo.in_flight_note)."""
    return in_flight_note(slo.get("excluded_in_flight_by_phase"))


def live_slo(slo: Mapping[str, Any]) -> str:
    """An SLO's state while a test runs (harness.run.live): `holding 99.4%`, `VIOLATED 1.71 attempts/op
    (objective ≤ 1.6 attempts/op)`, `waiting`, `pending`, `no data yet`."""
    state = str(slo.get("state", ""))
    metric = str(slo.get("metric", ""))
    if state in ("waiting", "pending", "no data yet"):
        return state
    shown = value(metric, slo.get("observed"))
    if state == "violated":
        return f"VIOLATED {shown} (objective {threshold(metric, slo.get('threshold') or {})})"
    return f"{state} {shown}"


def _trim(x: float, decimals: int) -> str:
    text = f"{float(x):.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
