"""The report's per-phase and per-flow sections: the phase table, each phase's detail with its comparison
with the baseline, and the per flow x step breakdowns. Read from the summary dict only (see html.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report import wording
from harness.report.htmlkit import counts, e, interval, number, percent, relative, section, signed, table


def share(value: Any, bounds: Any) -> str:
    """A share as a percentage, its Wilson interval on a line of its own (so wide tables still fit)."""
    text = e(wording.value("availability", value))
    return text + (f'<span class="ci">{e(wording.interval("availability", bounds))}</span>' if bounds else "")


def phases_section(summary: Mapping[str, Any]) -> str:
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
                e(wording.value("availability", avail.get("attempt"))),
                share(avail.get("operation"), avail.get("operation_interval")),
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
        p_value = wording.p_value(avail.get("p_value")) if avail.get("test") != "none" else "—"
        rows.append(["availability (operation)", e(signed(avail.get("difference"), 4)),
                     e(interval(avail.get("interval"), 4, True).strip()),
                     e(wording.method(avail.get("interval_method"))), e(p_value), e(avail.get("test"))])  # fmt: skip
    latency = vs.get("latency") or {}
    # the latencies the test and the bootstraps drew on (all of a phase's, or its seeded sample of 200,000)
    samples = latency.get("samples")
    sampled = f" on {samples[0]:,} / {samples[1]:,} latencies" if samples else ""
    for q, d in (latency.get("percentile_differences_ms") or {}).items():
        shown = interval(d.get("interval"), 1, True).strip() or (d.get("interval_note") or "")
        rows.append([f"{e(q)} latency (ms)", e(signed(d.get("difference"), 1)), e(shown),
                     e(wording.method(d.get("interval_method"))), "", ""])  # fmt: skip
    if latency:
        rows.append(["latency shift (Cliff's delta)", e(signed(latency.get("cliffs_delta"), 3)), "", "",
                     e(wording.p_value(latency.get("p_value"))), e(f"{latency.get('test')}{sampled}")])  # fmt: skip
    head = [f"{name} minus {summary.get('baseline_phase')}", "difference", "95% interval", "interval method",
            "p-value", "test"]  # fmt: skip
    return table(head, rows, table_id=f"vs-baseline-{name}", numeric={1, 2, 4})


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
                share(r.get("availability"), r.get("availability_interval")),
                e(wording.value("availability", a.get("availability"))),
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


def flows_section(summary: Mapping[str, Any]) -> str:
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
