"""Figures fit for publishing: nothing clipped at the figure's edge, legends outside the plot area, no
line drawn across seconds without data, and no panel without a line to show."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from harness.analysis import metrics
from harness.analysis.frames import load_run, step_operations
from harness.records import read_records
from harness.report.figure_data import FigureData, Timeline
from harness.report.figures import figures_of
from tests.unit.analysis.synthetic import T0


def figure_data(run, ops: pd.DataFrame, att: pd.DataFrame) -> FigureData:
    """The figures' data of a run whose records were edited in memory: per-second tables of these records."""
    steps = {str(s): metrics.per_second(ops[ops["step"] == s], T0) for s in sorted(ops["step"].unique())}
    return replace(
        FigureData.of(run),
        timeline=Timeline.of(run),
        operations=metrics.per_second(step_operations(ops), T0),
        attempts=metrics.per_second(att, T0),
        steps=steps,
    )


def records(run_dir, kind: str) -> pd.DataFrame:
    return read_records(run_dir / "records", kind).to_pandas().sort_values("ts", kind="stable", ignore_index=True)


@pytest.fixture
def crowded(run_dir):
    """The synthetic run with what makes layouts break: five faults with long labels, a second step with a
    single record (the discovery a client makes once), and three seconds without any record."""
    run = load_run(run_dir)
    (fault,) = run.faults
    label = "http_error 503 p=0.5 retry-after=1s POST token match=prefix"
    faults = tuple(
        replace(fault, id=f"brownout.{i}", label=f"{label} #{i}", type=t)
        for i, t in enumerate(("http_error", "latency", "reset_peer", "http_throttle", "target_error"))
    )
    ops, att = records(run_dir, "operations"), records(run_dir, "attempts")
    gap = (ops["ts"] >= T0 + 24) & (ops["ts"] < T0 + 27)
    ops, att = ops[~gap], att[~((att["ts"] >= T0 + 24) & (att["ts"] < T0 + 27))]
    once = ops.iloc[:1].copy()
    once["step"] = "discovery"
    ops = pd.concat([once, ops], ignore_index=True)
    with run:
        return figure_data(replace(run, faults=faults), ops, att)


def drawn(fig):
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def test_nothing_is_clipped_and_legends_sit_outside_the_plot(crowded) -> None:
    for name, fig in figures_of(crowded).items():
        renderer = drawn(fig)
        tight, full = fig.get_tightbbox(renderer), fig.bbox_inches
        assert tight.x0 >= full.x0 - 0.01 and tight.y0 >= full.y0 - 0.01, name
        assert tight.x1 <= full.x1 + 0.01 and tight.y1 <= full.y1 + 0.01, name
        for ax in fig.axes:
            title = ax.title.get_window_extent(renderer)
            assert title.x0 >= 0 and title.x1 <= fig.bbox.width, f"{name}: title {ax.get_title()!r}"
            legend = ax.get_legend()
            if legend is not None:
                assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), name


def test_no_line_is_drawn_across_seconds_without_records(crowded) -> None:
    figures = figures_of(crowded)
    for name in ("latency", "availability"):
        ax = figures[name].axes[0]
        series = [line for line in ax.lines if not (line.get_gid() or "").startswith("phase")]
        assert series, name
        for line in series:
            points = dict(zip(np.asarray(line.get_xdata()), np.asarray(line.get_ydata(), dtype=float), strict=True))
            assert all(np.isnan(points[x]) for x in (24.5, 25.5, 26.5)), (name, line.get_label())
            assert not np.isnan(points[23.5]) and not np.isnan(points[27.5])


def test_no_panel_without_a_line_and_what_was_left_out_is_named(crowded) -> None:
    fig = figures_of(crowded)["latency_by_step"]
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == ["step: token"]  # discovery has one record: a lone dot in a panel of its own
    assert "discovery" in fig.get_supxlabel()


def test_a_lone_second_is_a_dot_not_nothing(run_dir) -> None:
    every = records(run_dir, "operations")
    ops = every[(every["ts"] < T0 + 5) | (every["ts"] >= T0 + 6)]
    ops = ops[(ops["ts"] < T0 + 6) | (ops["ts"] >= T0 + 6)]  # keep second 6 alone between gaps 5 and 7
    ops = ops[~((ops["ts"] >= T0 + 7) & (ops["ts"] < T0 + 8))]
    with load_run(run_dir) as run:
        data = figure_data(run, ops, records(run_dir, "attempts"))
    ax = figures_of(data)["latency"].axes[0]
    p50 = next(line for line in ax.lines if line.get_label() == "p50")
    x = list(np.asarray(p50.get_xdata()))
    marked = p50.get_markevery()
    assert isinstance(marked, list) and x.index(6.5) in marked
