import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from harness.analysis import metrics
from harness.analysis.frames import load_run
from harness.report.figures import (
    FaultMark,
    PhaseMark,
    Timeline,
    availability_figure,
    fault_colour,
    figures_of,
    latency_figure,
    throughput_figure,
)


@pytest.fixture
def figures(run_dir):
    return figures_of(load_run(run_dir))


def spans(ax):
    return {p.get_gid(): p for p in ax.patches if isinstance(p, Rectangle) and (p.get_gid() or "").startswith("fault:")}


TIME_AXIS = ("timeline", "latency", "latency_by_step", "availability", "throughput", "outcomes")


def test_every_axis_has_a_title_and_labelled_units(figures):
    assert list(figures) == [*TIME_AXIS[:2], "latency_by_step", "availability", "throughput", "outcomes", "latency_cdf"]
    titles = {name: fig.axes[0].get_title(loc="left") for name, fig in figures.items()}
    assert "latency" in titles["latency"].lower()
    assert "availability" in titles["availability"].lower()
    assert "throughput" in titles["throughput"].lower()
    assert figures["latency"].axes[0].get_ylabel() == "latency (ms)"
    assert "availability" in figures["availability"].axes[0].get_ylabel()
    top, bottom = figures["throughput"].axes
    assert top.get_ylabel() == "throughput (operations/s)"
    assert bottom.get_ylabel() == "attempts per operation"
    for name in TIME_AXIS:
        assert figures[name].axes[-1].get_xlabel() == "time since test start (s)"


def test_fault_windows_are_shaded_at_their_times_in_every_axis(figures):
    for name in TIME_AXIS:
        for ax in figures[name].axes:
            (span,) = spans(ax).values()
            assert span.get_gid() == "fault:brownout.0"
            assert span.get_x() == pytest.approx(10.0)
            assert span.get_width() == pytest.approx(10.0)
            assert span.get_facecolor()[:3] == pytest.approx(
                tuple(int(fault_colour("http_error")[i : i + 2], 16) / 255 for i in (1, 3, 5))
            )
            labels = [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_yticklabels()]
            assert "http_error 503 p=0.5 token" in labels


def test_phase_boundaries_are_marked_and_named(figures):
    ax = figures["availability"].axes[0]
    lines = {line.get_gid(): line.get_xdata()[0] for line in ax.lines if (line.get_gid() or "").startswith("phase:")}
    assert lines == {"phase:baseline": 0.0, "phase:brownout": 10.0, "phase:recovery": 20.0,
                     "phase:cooldown": 30.0, "phase:end": 35.0}  # fmt: skip
    texts = [t.get_text() for t in ax.texts]
    assert {"baseline", "brownout", "recovery", "cooldown"} <= set(texts)


def test_series_are_the_per_second_metrics(figures):
    ax = figures["availability"].axes[0]
    operation = next(line for line in ax.lines if line.get_label() == "operation scope")
    values = dict(zip(operation.get_xdata(), operation.get_ydata(), strict=True))
    assert values[0.5] == 1.0 and values[11.5] == 0.5 and values[22.5] == 1.0


def test_empty_frames_draw_an_annotated_empty_figure():
    empty = metrics.per_second(pd.DataFrame({"ts": [], "outcome": [], "latency_ms": [], "attempts": []}), 0.0)
    timeline = Timeline(0.0, 5.0, (PhaseMark("baseline", 0.0, 5.0),), (FaultMark("f", "latency", "latency 5ms", 1, 2),))
    for fig in (
        latency_figure(empty, timeline),
        availability_figure(empty, empty, timeline),
        throughput_figure(empty, timeline),
    ):
        assert "no data recorded" in [t.get_text() for ax in fig.axes for t in ax.texts]
        assert all(spans(ax) for ax in fig.axes)


def test_fault_colours_are_stable_per_type():
    assert fault_colour("http_error") == fault_colour("http_error") != fault_colour("latency")
    assert fault_colour("kill") == fault_colour("kill")
