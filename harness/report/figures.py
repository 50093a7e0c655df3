"""The report's figures: pure functions from small frames (per-second tables, CDF points) to matplotlib
Figures, and a saver for PNGs.

Every time axis is seconds since the test start, with the phase boundaries marked and named and each
fault window shaded in its type's colour and labelled. Fit for publishing: legends sit outside the plot
area, a per-second line is broken where a second has no record (never drawn across the gap; a second
alone between gaps is a dot), and a panel is drawn only for data that makes a line. Figures are built
as bare `matplotlib.figure.Figure` objects, never through pyplot: no global figure registry (nothing to
leak, nothing to close), no GUI backend chosen, and so no side effect on whoever imports this module (a
notebook keeps its backend). The series come from `harness.analysis.metrics`, where every metric is defined,
over the per-second tables and histograms `harness.analysis.aggregate` reduces a run's records to
(`harness.report.figure_data`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.analysis import metrics
from harness.report.figure_data import MAX_STEP_PANELS, FaultMark, FigureData, PhaseMark, Timeline

if TYPE_CHECKING:  # the drawing process never imports the analysis (DuckDB, the scenario models)
    from harness.analysis.frames import Run

__all__ = ["DPI", "SIZE_IN", "FaultMark", "FigureData", "PhaseMark", "Timeline", "figures_of", "save_figures"]

FIGURE_DIR = "figures"
SIZE_IN = (10.0, 4.2)
DPI = 100

# One colour per fault type, the same in every figure and every report.
FAULT_COLOURS = {"http_error": "#d62728", "latency": "#ff7f0e"}
_SPARE_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f")
SERIES_COLOURS = {"p50": "#1f77b4", "p95": "#2ca02c", "p99": "#9467bd"}
# One colour per phase, by its place in the scenario: the same phase has the same colour in the CDF, the
# timeline strip and the phase names of every time axis (and in a comparison, across runs).
PHASE_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
OUTCOME_COLOURS = {
    "ok": "#55a868",
    "http_4xx": "#dd8452",
    "http_429": "#ccb974",
    "http_5xx": "#c44e52",
    "timeout": "#8172b3",
    "connect_error": "#937860",
    "reset": "#da8bc3",
    "protocol_error": "#8c8c8c",
    "security_violation": "#000000",
}
MIN_PANEL_WINDOWS = 2  # a step with records in fewer seconds than this gets no panel of its own (one dot)
LEGEND_OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.005, 1.0), "fontsize": 8, "frameon": False}


def phase_colour(index: int) -> str:
    return PHASE_COLOURS[index % len(PHASE_COLOURS)]


def outcome_colour(outcome: str) -> str:
    return OUTCOME_COLOURS.get(outcome) or _SPARE_COLOURS[zlib.crc32(outcome.encode()) % len(_SPARE_COLOURS)]


def fault_colour(fault_type: str) -> str:
    if fault_type in FAULT_COLOURS:
        return FAULT_COLOURS[fault_type]
    return _SPARE_COLOURS[zlib.crc32(fault_type.encode()) % len(_SPARE_COLOURS)]


# --- the figures ------------------------------------------------------------------------------------


def latency_figure(operations: pd.DataFrame, timeline: Timeline) -> Figure:
    """Operation latency p50/p95/p99 per second (`operations`: their per-second table)."""
    fig, ax = _figure()
    series = gapped(metrics.latency_series(operations, ("p50", "p95", "p99")))
    for name in series.columns:
        plot_series(ax, series[name], label=name, color=SERIES_COLOURS[name], linewidth=1.2)
    ax.set_title("Operation latency per second (end to end, retries and backoff included)", loc="left", y=1.0)
    ax.set_ylabel("latency (ms)")
    if _wants_log(series):
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    _finish(ax, timeline, empty=series.empty)
    return _layout(fig)


def availability_figure(attempts: pd.DataFrame, operations: pd.DataFrame, timeline: Timeline) -> Figure:
    """Availability per second at attempt and at operation scope."""
    fig, ax = _figure()
    for frame, name, colour in ((attempts, "attempt", "#ff7f0e"), (operations, "operation", "#1f77b4")):
        series = gapped(metrics.availability_series(frame))
        plot_series(ax, series, label=f"{name} scope", color=colour, linewidth=1.2)
    ax.set_title("Availability per second: share of ok attempts and of ok operations (after retries)", loc="left",
                 y=1.0)  # fmt: skip
    ax.set_ylabel("availability (ok / total)")
    ax.set_ylim(-0.02, 1.08)
    _finish(ax, timeline, empty=attempts.empty and operations.empty)
    return _layout(fig)


def throughput_figure(operations: pd.DataFrame, timeline: Timeline) -> Figure:
    """Operations per second, and attempts per operation (retry amplification) below it."""
    fig = Figure(figsize=(SIZE_IN[0], SIZE_IN[1] * 1.5), dpi=DPI, )
    top, bottom = fig.subplots(2, 1, sharex=True)
    length = math.ceil(timeline.end_s) if not operations.empty else 0
    rate = metrics.throughput_series(operations, length)
    top.plot(rate.index + 0.5, rate, color="#1f77b4", linewidth=1.2, label="operations started")
    top.set_title("Throughput and retry amplification per second", loc="left", y=1.0)
    top.set_ylabel("throughput (operations/s)")
    top.set_ylim(bottom=0)
    amplification = gapped(metrics.attempts_per_operation_series(operations))
    plot_series(bottom, amplification, color="#d62728", linewidth=1.2, label="attempts/op")
    bottom.set_ylabel("attempts per operation")
    bottom.set_ylim(bottom=0.9 if amplification.dropna().empty else min(0.9, float(amplification.min()) - 0.1))
    _finish(top, timeline, empty=operations.empty, xlabel=False)
    _finish(bottom, timeline, empty=operations.empty, phase_names=False)
    return _layout(fig, hspace_in=0.15)


def step_latency_figure(steps: Mapping[str, pd.DataFrame], timeline: Timeline) -> Figure:
    """One panel per step (the busiest MAX_STEP_PANELS with latencies in MIN_PANEL_WINDOWS seconds or more, of
    the candidates `steps` holds): operation latency p50/p95/p99 per second. Steps left out are named below
    the panels."""
    tables = {step: metrics.latency_series(table) for step, table in steps.items()}
    names = [s for s in tables if len(tables[s]) >= MIN_PANEL_WINDOWS][:MAX_STEP_PANELS]
    left_out = [s for s in tables if s not in names]
    rows = max(len(names), 1)
    fig = Figure(figsize=(SIZE_IN[0], 1.0 + 2.2 * rows + (0.3 if left_out else 0.0)), dpi=DPI)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle("Operation latency per second, per step (end to end, retries and backoff included)")
    if left_out:
        fig.supxlabel(f"not drawn (records in fewer than {MIN_PANEL_WINDOWS} seconds, or past the "
                      f"{MAX_STEP_PANELS} busiest steps): {', '.join(left_out)}", fontsize=8, color="0.4")  # fmt: skip
    for i, ax in enumerate(axes):
        step = names[i] if names else None
        series = gapped(tables[step] if step is not None else metrics.latency_series(pd.DataFrame()))
        for name in series.columns:
            plot_series(ax, series[name], label=name, color=SERIES_COLOURS[name], linewidth=1.1)
        ax.set_title(f"step: {step}" if step is not None else "no step recorded", fontsize=10, loc="left", y=1.0)
        ax.set_ylabel("latency (ms)")
        if _wants_log(series):
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        _finish(ax, timeline, empty=series.empty, xlabel=i == rows - 1, phase_names=i == 0)
    return _layout(fig, top_in=0.75, hspace_in=0.4, bottom_in=0.85 if left_out else 0.55)


def outcome_mix_figure(attempts: pd.DataFrame, operations: pd.DataFrame, timeline: Timeline) -> Figure:
    """Outcomes per second as stacked areas, attempts above and operations below."""
    fig = Figure(figsize=(SIZE_IN[0], SIZE_IN[1] * 1.5), dpi=DPI, )
    top, bottom = fig.subplots(2, 1, sharex=True)
    fig.suptitle("Outcome mix per second: what the clients saw (attempts) and what users got (operations)")
    length = math.ceil(timeline.end_s)
    for ax, frame, name in ((top, attempts, "attempts"), (bottom, operations, "operations")):
        table = metrics.outcome_series(frame, length)
        if not table.empty:
            ax.stackplot(
                table.index + 0.5,
                [table[c].to_numpy() for c in table.columns],
                labels=[str(c) for c in table.columns],
                colors=[outcome_colour(str(c)) for c in table.columns],
                alpha=0.85,
            )
        ax.set_ylabel(f"{name} per second")
        ax.set_ylim(bottom=0)
        _finish(ax, timeline, empty=frame.empty, xlabel=ax is bottom, phase_names=ax is top)
    return _layout(fig, top_in=0.5, hspace_in=0.15)


def latency_cdf_figure(cdfs: Mapping[str, tuple[np.ndarray, np.ndarray]], phase_names: tuple[str, ...]) -> Figure:
    """Distribution of operation latency per phase: the exact share of operations at or below each bucket
    edge of the latency histogram (128 a power of two), on a log latency axis."""
    fig, ax = _figure()
    drawn = False
    for i, name in enumerate(phase_names):
        if name not in cdfs:
            continue
        x, y = cdfs[name]
        ax.plot(x, y, color=phase_colour(i), label=name, linewidth=1.4, drawstyle="steps-post")
        drawn = True
    ax.set_title("Operation latency distribution per phase (empirical CDF)", loc="left", y=1.0)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("share of operations at or below")
    ax.set_ylim(0, 1.01)
    if drawn:
        ax.set_xscale("log")
        ax.legend(**LEGEND_OUTSIDE).set_gid(_OUTSIDE)
    else:
        ax.text(0.5, 0.5, "no data recorded", transform=ax.transAxes, ha="center", va="center", color="grey")
    ax.grid(True, alpha=0.3, which="both")
    return _layout(fig)


def fault_timeline_figure(timeline: Timeline) -> Figure:
    """A strip: the phases as coloured bands on the top row, each fault as a bar on its own row."""
    rows = len(timeline.faults) + 1
    fig = Figure(figsize=(SIZE_IN[0], 0.9 + 0.45 * rows), dpi=DPI, )
    ax = fig.add_subplot()
    for i, phase in enumerate(timeline.phases):
        ax.broken_barh([(phase.start_s, phase.end_s - phase.start_s)], (rows - 1 - 0.4, 0.8),
                       facecolors=phase_colour(i), alpha=0.8, gid=f"phase-band:{phase.name}")  # fmt: skip
        ax.text((phase.start_s + phase.end_s) / 2, rows - 1, phase.name, ha="center", va="center", fontsize=8)
    for j, fault in enumerate(timeline.faults):
        y = rows - 2 - j
        ax.broken_barh([(fault.start_s, fault.end_s - fault.start_s)], (y - 0.3, 0.6),
                       facecolors=fault_colour(fault.type), gid=f"fault-bar:{fault.id}")  # fmt: skip
    ax.set_yticks(range(rows), [f.label for f in reversed(timeline.faults)] + ["phases"], fontsize=8)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_title("Fault timeline: phases and when each fault was in effect", loc="left", y=1.0)
    mark_timeline(ax, timeline, phase_names=False, fault_labels=False)
    ax.set_xlim(0, max(timeline.end_s, 1.0))
    ax.set_xlabel("time since test start (s)")
    ax.grid(True, axis="x", alpha=0.3)
    labels = [f.label for f in timeline.faults] + ["phases"]
    return _layout(fig, left_in=0.35 + _TEXT_IN_PER_CHAR * max(len(label) for label in labels), bottom_in=0.5)


def figures_of(data: FigureData | Run) -> dict[str, Figure]:
    """Every figure of the report, by file stem, in report order."""
    if not isinstance(data, FigureData):
        data = FigureData.of(data)
    timeline = data.timeline
    return {
        "timeline": fault_timeline_figure(timeline),
        "latency": latency_figure(data.operations, timeline),
        "latency_by_step": step_latency_figure(data.steps, timeline),
        "availability": availability_figure(data.attempts, data.operations, timeline),
        "throughput": throughput_figure(data.operations, timeline),
        "outcomes": outcome_mix_figure(data.attempts, data.operations, timeline),
        "latency_cdf": latency_cdf_figure(data.cdfs, data.phase_names),
    }


def save_figures(figures: Mapping[str, Figure], run_dir: str | Path, *, release: bool = True) -> dict[str, Path]:
    """Write each figure to `figures/<name>.png` and, with `release`, release its drawing memory (the figure
    drawing process does not: it exits next, and clearing seven figures costs it 40 ms)."""
    directory = Path(run_dir) / FIGURE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        if release:
            fig.clear()
        paths[name] = path
    return paths


def warm_up() -> None:
    """Draw a throwaway figure into memory: the first figure a process draws pays for loading the fonts,
    building the mathtext parser (log-axis tick labels), the Agg renderer's caches and the PNG encoder's
    import, about a tenth of a second. The drawing process does it while it waits for its data
    (harness.report.render); what it draws afterwards is the same to the byte."""
    import io

    fig, ax = _figure()
    ax.plot([1.0, 2.0], [1.0, 1000.0], label="p50")
    ax.set_yscale("log")
    ax.set_title("warm-up", loc="left")
    ax.text(0.5, 0.5, "warm-up", transform=ax.transAxes, fontsize=8, fontweight="bold")
    ax.legend(**LEGEND_OUTSIDE)
    fig.savefig(io.BytesIO(), format="png", dpi=DPI)


# --- shared decoration -----------------------------------------------------------------------------


# Approximate width of a character at the 8-point legend and tick font, and of a legend's handle and padding.
_TEXT_IN_PER_CHAR = 0.062
_LEGEND_HANDLE_IN = 0.55
_OUTSIDE = "legend:outside"


def _layout(
    fig: Figure, *, left_in: float = 0.8, top_in: float = 0.4, bottom_in: float = 0.55, hspace_in: float = 0.0
) -> Figure:
    """Fixed margins in inches, the right one wide enough for the legends placed outside the axes. Matplotlib's
    constrained layout would find them itself, but it costs a second full layout pass per figure, as much as
    drawing it: the report's figures are regular enough to place by hand."""
    width, height = fig.get_size_inches()
    legends = [ax.get_legend() for ax in fig.axes]
    labels = [t.get_text() for lg in legends if lg is not None and lg.get_gid() == _OUTSIDE for t in lg.get_texts()]
    right_in = 0.3 + (_LEGEND_HANDLE_IN + _TEXT_IN_PER_CHAR * max(len(t) for t in labels) if labels else 0.0)
    rows = max(len(fig.axes), 1)
    axes_in = (height - top_in - bottom_in - hspace_in * (rows - 1)) / rows
    fig.subplots_adjust(left=left_in / width, right=1 - right_in / width, top=1 - top_in / height,
                        bottom=bottom_in / height, hspace=hspace_in / max(axes_in, 0.1))  # fmt: skip
    return fig


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE_IN, dpi=DPI, )
    return fig, fig.add_subplot()


def _finish(ax: Axes, timeline: Timeline, *, empty: bool, xlabel: bool = True, phase_names: bool = True) -> None:
    mark_timeline(ax, timeline, phase_names=phase_names)
    ax.set_xlim(0, max(timeline.end_s, 1.0))
    if xlabel:
        ax.set_xlabel("time since test start (s)")
    ax.grid(True, alpha=0.3)
    if empty:
        ax.text(0.5, 0.5, "no data recorded", transform=ax.transAxes, ha="center", va="center", color="grey")
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        # Outside the axes, right: nothing of the data or of the phase names is hidden under it.
        ax.legend(**LEGEND_OUTSIDE).set_gid(_OUTSIDE)


def mark_timeline(ax: Axes, timeline: Timeline, *, phase_names: bool = True, fault_labels: bool = True) -> None:
    """Phase boundaries as dashed lines (named at the top in the phase's colour), fault windows as shaded,
    labelled spans."""
    on_x = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for i, phase in enumerate(timeline.phases):
        ax.axvline(phase.start_s, color="0.35", linestyle="--", linewidth=0.8, gid=f"phase:{phase.name}")
        if phase_names:
            ax.text(phase.start_s + 0.2, 0.995, phase.name, transform=on_x, va="top", fontsize=8,
                    color=phase_colour(i), fontweight="bold")  # fmt: skip
    if timeline.phases:
        ax.axvline(timeline.phases[-1].end_s, color="0.35", linestyle="--", linewidth=0.8, gid="phase:end")
    for fault in timeline.faults:
        colour = fault_colour(fault.type)
        ax.axvspan(fault.start_s, fault.end_s, color=colour, alpha=0.13, label=fault.label, gid=f"fault:{fault.id}")
        if fault_labels:
            ax.text(fault.start_s + 0.2, 0.01, fault.label, transform=on_x, va="bottom", fontsize=7, color=colour)


def gapped(series: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """A per-window series on every window from its first to its last, NaN where a second had no record,
    so that matplotlib breaks the line there instead of joining across the gap."""
    if series.empty:
        return series
    index = series.index.astype(int)
    return series.reindex(range(int(index.min()), int(index.max()) + 1))


def plot_series(ax: Axes, series: pd.Series, **style: object) -> None:
    """A gapped per-second series at the middle of its seconds; a value with no neighbour is drawn as a dot
    (a line segment needs two points, so it would not show at all)."""
    y = series.to_numpy(dtype=float)
    present = ~np.isnan(y)
    before = np.concatenate(([False], present[:-1]))
    after = np.concatenate((present[1:], [False]))
    alone = present & ~before & ~after
    dots = list(np.flatnonzero(alone))
    marks = {"marker": "o", "markersize": 2.5, "markevery": dots} if dots else {}
    ax.plot(series.index + 0.5, y, **marks, **style)  # type: ignore[arg-type]


def _wants_log(series: pd.DataFrame) -> bool:
    """Log scale when the latencies span more than a factor of 50 (a timeout among millisecond calls)."""
    values = series.to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return bool(values.size) and float(values.max()) / float(values.min()) > 50.0
