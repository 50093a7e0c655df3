"""The report's figures: pure functions from record frames to matplotlib Figures, and a saver for PNGs.

Every time axis is seconds since the test start, with the phase boundaries marked and named and each
fault window shaded in its type's colour and labelled. Figures are built as bare `matplotlib.figure.Figure`
objects, never through pyplot: no global figure registry (nothing to leak, nothing to close), no GUI
backend chosen, and so no side effect on whoever imports this module (a notebook keeps its backend).
The series come from `harness.analysis.metrics`, where every metric is defined.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.analysis import metrics
from harness.analysis.frames import Run

FIGURE_DIR = "figures"
SIZE_IN = (10.0, 4.2)
DPI = 100

# One colour per fault type, the same in every figure and every report.
FAULT_COLOURS = {"http_error": "#d62728", "latency": "#ff7f0e"}
_SPARE_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f")
SERIES_COLOURS = {"p50": "#1f77b4", "p95": "#2ca02c", "p99": "#9467bd"}


@dataclass(frozen=True)
class PhaseMark:
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class FaultMark:
    id: str
    type: str
    label: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Timeline:
    """What every time-axis figure marks, in seconds since the test start `t0`."""

    t0: float
    end_s: float
    phases: tuple[PhaseMark, ...] = ()
    faults: tuple[FaultMark, ...] = ()

    @classmethod
    def of(cls, run: Run) -> Timeline:
        t0 = run.t0
        phases = tuple(
            PhaseMark(p.name, p.start - t0, p.end - t0) for p in run.phases if p.start is not None and p.end is not None
        )
        faults = tuple(FaultMark(f.id, f.type, f.label, f.start - t0, f.end - t0) for f in run.faults)
        ends = [run.data_end - t0, *(p.end_s for p in phases)]
        return cls(t0, max(ends), phases, faults)


def fault_colour(fault_type: str) -> str:
    if fault_type in FAULT_COLOURS:
        return FAULT_COLOURS[fault_type]
    return _SPARE_COLOURS[zlib.crc32(fault_type.encode()) % len(_SPARE_COLOURS)]


# --- the figures ------------------------------------------------------------------------------------


def latency_figure(operations: pd.DataFrame, timeline: Timeline) -> Figure:
    """Operation latency p50/p95/p99 per second."""
    fig, ax = _figure()
    series = metrics.latency_series(operations, timeline.t0, ("p50", "p95", "p99"))
    for name in series.columns:
        ax.plot(series.index + 0.5, series[name], label=name, color=SERIES_COLOURS[name], linewidth=1.2)
    ax.set_title("Operation latency per second (end to end, retries and backoff included)")
    ax.set_ylabel("latency (ms)")
    if _wants_log(series):
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    _finish(ax, timeline, empty=series.empty)
    return fig


def availability_figure(attempts: pd.DataFrame, operations: pd.DataFrame, timeline: Timeline) -> Figure:
    """Availability per second at attempt and at operation scope."""
    fig, ax = _figure()
    for frame, name, colour in ((attempts, "attempt", "#ff7f0e"), (operations, "operation", "#1f77b4")):
        series = metrics.availability_series(frame, timeline.t0)
        ax.plot(series.index + 0.5, series, label=f"{name} scope", color=colour, linewidth=1.2)
    ax.set_title("Availability per second: share of ok attempts and of ok operations (after retries)")
    ax.set_ylabel("availability (ok / total)")
    ax.set_ylim(-0.02, 1.08)
    _finish(ax, timeline, empty=attempts.empty and operations.empty)
    return fig


def throughput_figure(operations: pd.DataFrame, timeline: Timeline) -> Figure:
    """Operations per second, and attempts per operation (retry amplification) below it."""
    fig = Figure(figsize=(SIZE_IN[0], SIZE_IN[1] * 1.5), dpi=DPI, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    length = math.ceil(timeline.end_s) if not operations.empty else 0
    rate = metrics.throughput_series(operations, timeline.t0, length)
    top.plot(rate.index + 0.5, rate, color="#1f77b4", linewidth=1.2, label="operations started")
    top.set_title("Throughput and retry amplification per second")
    top.set_ylabel("throughput (operations/s)")
    top.set_ylim(bottom=0)
    amplification = metrics.attempts_per_operation_series(operations, timeline.t0)
    bottom.plot(amplification.index + 0.5, amplification, color="#d62728", linewidth=1.2, label="attempts/op")
    bottom.set_ylabel("attempts per operation")
    bottom.set_ylim(bottom=0.9 if amplification.empty else min(0.9, float(amplification.min()) - 0.1))
    _finish(top, timeline, empty=operations.empty, xlabel=False)
    _finish(bottom, timeline, empty=operations.empty, phase_names=False)
    return fig


def figures_of(run: Run) -> dict[str, Figure]:
    """Every figure of the report, by file stem, in report order."""
    timeline = Timeline.of(run)
    return {
        "latency": latency_figure(run.operations, timeline),
        "availability": availability_figure(run.attempts, run.operations, timeline),
        "throughput": throughput_figure(run.operations, timeline),
    }


def save_figures(figures: Mapping[str, Figure], run_dir: str | Path) -> dict[str, Path]:
    """Write each figure to `figures/<name>.png` and release its drawing memory."""
    directory = Path(run_dir) / FIGURE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        fig.clear()
        paths[name] = path
    return paths


# --- shared decoration -----------------------------------------------------------------------------


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
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
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


def mark_timeline(ax: Axes, timeline: Timeline, *, phase_names: bool = True) -> None:
    """Phase boundaries as dashed lines (named at the top), fault windows as shaded, labelled spans."""
    on_x = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for phase in timeline.phases:
        ax.axvline(phase.start_s, color="0.35", linestyle="--", linewidth=0.8, gid=f"phase:{phase.name}")
        if phase_names:
            ax.text(phase.start_s + 0.2, 0.995, phase.name, transform=on_x, va="top", fontsize=8, color="0.25")
    if timeline.phases:
        ax.axvline(timeline.phases[-1].end_s, color="0.35", linestyle="--", linewidth=0.8, gid="phase:end")
    for fault in timeline.faults:
        colour = fault_colour(fault.type)
        ax.axvspan(fault.start_s, fault.end_s, color=colour, alpha=0.13, label=fault.label, gid=f"fault:{fault.id}")
        ax.text(fault.start_s + 0.2, 0.01, fault.label, transform=on_x, va="bottom", fontsize=7, color=colour)


def _wants_log(series: pd.DataFrame) -> bool:
    """Log scale when the latencies span more than a factor of 50 (a timeout among millisecond calls)."""
    values = series.to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return bool(values.size) and float(values.max()) / float(values.min()) > 50.0
