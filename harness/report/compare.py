"""`harness compare RUN_DIR RUN_DIR...`: several runs side by side (two retry policies, before and after a
release). The first run is the reference: every other run gets its differences from it, per phase the
runs share, with bootstrap intervals and a Mann-Whitney test (from `harness.analysis.statistics`).
Figures overlay the runs on one time axis (seconds since each run's own test start), shading the
reference run's fault windows. Written to a directory: compare.json, compare.html, figures/*.png.

The page opens with what differs between the runs' set-ups (harness.analysis.configuration: load, flows,
retry policy, timeouts, seed, scale, target, proxy, plan, versions), and warns when the runs are of
different scenarios, whose phases and SLOs then match by name only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from harness.analysis import metrics
from harness.analysis.aggregate import Slice
from harness.analysis.configuration import flatten
from harness.analysis.frames import Run, load_run
from harness.analysis.metrics import Tally
from harness.analysis.recovery import phase_operations
from harness.analysis.statistics import availability_difference, latency_shift
from harness.analysis.summary import dumps, json_safe, summarize
from harness.errors import InputError
from harness.report import wording
from harness.report.figures import (
    DPI,
    LEGEND_OUTSIDE,
    SIZE_IN,
    Timeline,
    gapped,
    mark_timeline,
    plot_series,
    save_figures,
)
from harness.report.htmlkit import badge, e, figure, interval, number, page, section, signed, table
from harness.report.index import write_index

COMPARE_JSON = "compare.json"
COMPARE_HTML = "compare.html"
RUN_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


@dataclass(frozen=True)
class CompareResult:
    out_dir: Path
    html: Path
    data: dict[str, Any]


def default_out_dir(run_dirs: Sequence[str | Path]) -> Path:
    """`compare-<UTC stamp>` beside the first run (reports/compare-... for runs under reports/)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(run_dirs[0]).resolve().parent / f"compare-{stamp}"


def compare_runs(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None) -> CompareResult:
    if len(run_dirs) < 2:
        raise InputError("compare needs at least two run directories")
    runs: list[Run] = []
    try:
        for run_dir in run_dirs:
            runs.append(load_run(run_dir))
        summaries = [summarize(r) for r in runs]
        out = Path(out_dir) if out_dir is not None else default_out_dir(run_dirs)
        out.mkdir(parents=True, exist_ok=True)
        data = json_safe(comparison(runs, summaries))
        overlays = overlay_figures(runs)
    finally:
        for run in runs:
            run.close()
    (out / COMPARE_JSON).write_text(dumps(data), encoding="utf-8")
    paths = save_figures(overlays, out)
    figures = {name: path.read_bytes() for name, path in paths.items()}
    html = out / COMPARE_HTML
    html.write_text(render_compare(data, figures), encoding="utf-8")
    write_index(out.parent)
    return CompareResult(out, html, data)


def comparison(runs: Sequence[Run], summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    names = [s["run_id"] for s in summaries]
    shared = [p for p in summaries[0]["phase_order"] if all(p in s["phases"] for s in summaries[1:])]
    phases = {}
    for phase in shared:
        reference = _ops(runs[0], phase)
        rows = []
        for run, summary in zip(runs, summaries, strict=True):
            p = summary["phases"][phase]
            ops = _ops(run, phase)
            rows.append(
                {
                    "run": summary["run_id"],
                    "operations": p["operations"],
                    "availability": p["availability"]["operation"],
                    "availability_interval": p["availability"]["operation_interval"],
                    "latency_ms": p["latency_ms"]["operation"],
                    "attempts_per_operation": p["attempts_per_operation"],
                    "give_up_rate": p["give_up_rate"],
                    "vs_reference": None
                    if run is runs[0]
                    else {
                        "availability": availability_difference(reference, ops),
                        "latency": latency_shift(reference, ops),
                    },
                }
            )
        phases[phase] = rows
    return {
        "warnings": warnings(summaries),
        "configuration_diff": configuration_diff(summaries),
        "runs": [
            {
                "run": n,
                "dir": str(r.run_dir),
                "scenario": s["scenario"]["name"],
                "verdict": s["verdict"],
                "slos": {x["name"]: x["verdict"] for x in s["slos"]},
            }
            for n, r, s in zip(names, runs, summaries, strict=True)
        ],
        "reference": names[0],
        "phases": phases,
    }


# Settings that differ between any two runs and say nothing about the set-up.
_INCIDENTAL = ("target.url", "proxy.listen", "host")


def configuration_diff(summaries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every setting whose value is not the same in all runs: `{"setting", "values": [one per run]}`."""
    flat = [flatten(s.get("configuration") or {}) for s in summaries]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    out = []
    for key in keys:
        values = [f.get(key, "—") for f in flat]
        if len(set(values)) > 1 and not key.startswith(_INCIDENTAL):
            out.append({"setting": key, "values": values})
    return out


def warnings(summaries: Sequence[dict[str, Any]]) -> list[str]:
    names = [s["scenario"]["name"] for s in summaries]
    out = []
    if len(set(names)) > 1:
        out.append(
            f"These runs are of different scenarios ({', '.join(dict.fromkeys(names))}): phases and SLOs are "
            "compared by name only, and a difference may come from the scenarios rather than from the system."
        )
    elif len({s["scenario"].get("sha256") for s in summaries}) > 1:
        out.append(f"The runs are of scenario {names[0]}, but its file changed between them (see the differences).")
    not_done = [s["run_id"] for s in summaries if s.get("status") not in ("completed", "failed")]
    if not_done:
        out.append(f"Runs that did not finish normally: {', '.join(not_done)}; they cover only what they recorded.")
    return out


def _ops(run: Run, phase: str) -> Tally:
    return run.stats.sampled(phase_operations(phase))


# --- figures -------------------------------------------------------------------------------------------


def overlay_figures(runs: Sequence[Run]) -> dict[str, Figure]:
    timeline = Timeline.of(runs[0])
    end_s = max(max(r.data_end - r.t0 for r in runs), timeline.end_s)
    timeline = Timeline(timeline.t0, end_s, timeline.phases, timeline.faults)
    latency, ax_l = _fig()
    avail, ax_a = _fig()
    cdf, ax_c = _fig()
    for i, run in enumerate(runs):
        colour, label = RUN_COLOURS[i % len(RUN_COLOURS)], run.run_dir.name
        per_second = run.operations_per_second
        p95 = gapped(metrics.latency_series(per_second, ("p95",)))
        plot_series(ax_l, p95["p95"], color=colour, label=label, linewidth=1.2)
        plot_series(ax_a, gapped(metrics.availability_series(per_second)), color=colour, label=label, linewidth=1.2)
        x, y = run.stats.histogram(Slice("operation", journeys=False)).cdf()
        if x.size:
            ax_c.plot(x, y, color=colour, label=label, drawstyle="steps-post")
    ax_l.set_title("Operation latency p95 per second, runs overlaid", loc="left")
    ax_l.set_ylabel("latency p95 (ms)")
    ax_l.set_yscale("log")
    ax_a.set_title("Operation availability per second, runs overlaid", loc="left")
    ax_a.set_ylabel("availability (ok / total)")
    ax_a.set_ylim(-0.02, 1.08)
    for ax in (ax_l, ax_a):
        mark_timeline(ax, timeline)
        ax.set_xlim(0, max(end_s, 1.0))
        ax.set_xlabel("time since each run's test start (s); shading: faults of the reference run")
        ax.grid(True, alpha=0.3)
        ax.legend(**LEGEND_OUTSIDE)
    ax_c.set_title("Operation latency distribution over the whole run (empirical CDF)", loc="left")
    ax_c.set_xlabel("latency (ms, log scale)")
    ax_c.set_ylabel("share of operations at or below")
    if ax_c.lines:
        ax_c.set_xscale("log")
        ax_c.legend(**LEGEND_OUTSIDE)
    ax_c.grid(True, alpha=0.3, which="both")
    return {"latency": latency, "availability": avail, "latency_cdf": cdf}


def _fig() -> tuple[Figure, Any]:
    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    return fig, fig.add_subplot()


# --- page ----------------------------------------------------------------------------------------------


def render_compare(data: dict[str, Any], figures: dict[str, bytes]) -> str:
    runs = data["runs"]
    slo_names = list(dict.fromkeys(n for r in runs for n in r["slos"]))
    verdict_rows = [[e(n), *(badge(r["slos"].get(n, "no_data")) if n in r["slos"] else "—" for r in runs)]
                    for n in slo_names]  # fmt: skip
    verdict_rows.insert(0, ["verdict", *(badge(r["verdict"]) for r in runs)])
    warned = "".join(f'<p class="warning">{e(w)}</p>' for w in data.get("warnings") or [])
    body = [
        f"<h1>Comparison of {len(runs)} runs</h1>",
        f'<div id="warnings">{warned}</div>' if warned else "",
        section("What differs", _diff_table(runs, data.get("configuration_diff") or []), "configuration-diff"),
        f'<p class="facts">reference: {e(data["reference"])}; differences are each run minus the reference: '
        "availability with Newcombe 95% intervals and the p-value of Fisher's exact or the chi-square test, "
        "latency percentiles with bootstrap 95% intervals (where the tails hold enough samples) and the p-value "
        "of the Mann-Whitney U test; p-values under 0.001 read “< 0.001”.</p>",
        section(
            "Verdicts", table(["SLO", *(r["run"] for r in runs)], verdict_rows, table_id="verdicts", numeric=set())
        ),
    ]
    for phase, rows in data["phases"].items():
        body.append(section(f"Phase {phase}", _phase_table(phase, rows), f"phase-{phase}", 3))
    body.append(section("Figures", "".join(figure(n, n, png) for n, png in figures.items()), "figures"))
    return page("Comparison", body)


def _diff_table(runs: list[dict[str, Any]], diff: list[dict[str, Any]]) -> str:
    if not diff:
        return '<p class="muted" id="same-setup">Same set-up: every setting of the runs is the same.</p>'
    rows = [[e(d["setting"]), *(e(v) for v in d["values"])] for d in diff]
    return table(["setting", *(r["run"] for r in runs)], rows, table_id="differences", numeric=set())


def _phase_table(phase: str, rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        vs = r.get("vs_reference") or {}
        av = vs.get("availability") or {}
        diffs = (vs.get("latency") or {}).get("percentile_differences_ms") or {}
        lat = r.get("latency_ms") or {}
        out.append(
            [
                e(r["run"]),
                e(r.get("operations")),
                e(wording.value("availability", r.get("availability")))
                + _ci(wording.interval("availability", r.get("availability_interval"))),
                e(signed(av.get("difference"), 4)) + _ci(interval(av.get("interval"), 4, True)) if av else "reference",
                e(wording.p_value(av.get("p_value")) if av.get("test") != "none" else "—") if av else "",
                *(e(number(lat.get(q), 1)) for q in ("p50", "p95", "p99")),
                *(
                    e(signed((diffs.get(q) or {}).get("difference"), 1))
                    + _ci(interval((diffs.get(q) or {}).get("interval"), 1, True) or "no interval")
                    if diffs
                    else ""
                    for q in ("p50", "p95", "p99")
                ),
                e(wording.p_value((vs.get("latency") or {}).get("p_value"))) if vs.get("latency") else "",
                e(number(r.get("attempts_per_operation"), 3)),
            ]
        )
    head = ["run", "operations", "availability (Wilson 95%)", "Δ availability", "p (availability)", "p50 (ms)",
            "p95 (ms)", "p99 (ms)", "Δ p50 (ms)", "Δ p95 (ms)", "Δ p99 (ms)", "p (Mann-Whitney)",
            "attempts/op"]  # fmt: skip
    return table(head, out, table_id=f"compare-{phase}", numeric=set(range(1, 13)))



def _ci(text: str) -> str:
    return f'<span class="ci">{e(text.strip())}</span>' if text.strip() else ""
