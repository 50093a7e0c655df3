"""Rendering tests of the figures added for issue 8, through matplotlib's objects (no pixels)."""

import pytest
from matplotlib.colors import to_hex

from harness.analysis.frames import load_run
from harness.report.figures import figures_of, outcome_colour, phase_colour

PHASES = ["baseline", "brownout", "recovery", "cooldown"]


@pytest.fixture
def figures(run_dir):
    return figures_of(load_run(run_dir))


def test_latency_by_step_has_one_panel_per_step_with_units(figures):
    fig = figures["latency_by_step"]
    (ax,) = fig.axes
    assert ax.get_title(loc="left") == "step: token"
    assert ax.get_ylabel() == "latency (ms)"
    assert "per step" in fig.get_suptitle()
    assert [line.get_label() for line in ax.lines if not (line.get_gid() or "").startswith("phase:")] == [
        "p50", "p95", "p99",
    ]  # fmt: skip


def test_outcome_mix_is_stacked_per_outcome_with_ok_first(figures):
    top, bottom = figures["outcomes"].axes
    assert (top.get_ylabel(), bottom.get_ylabel()) == ("attempts per second", "operations per second")
    stacks = [c for c in bottom.collections if c.get_label() in ("ok", "http_5xx")]
    assert [c.get_label() for c in stacks] == ["ok", "http_5xx"]
    assert to_hex(stacks[1].get_facecolor()[0]) == outcome_colour("http_5xx")
    # second 11: five ok and five failed operations, stacked to ten
    ok_path = stacks[0].get_paths()[0].vertices
    assert max(y for x, y in ok_path if abs(x - 11.5) < 1e-9) == 5


def test_cdf_has_one_line_per_phase_with_data_in_phase_colours_on_a_log_axis(figures):
    (ax,) = figures["latency_cdf"].axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "latency (ms, log scale)"
    lines = {line.get_label(): line for line in ax.lines}
    assert list(lines) == PHASES[:3]  # cooldown has no record
    for i, name in enumerate(PHASES[:3]):
        assert to_hex(lines[name].get_color()) == phase_colour(i)
    assert lines["baseline"].get_xdata().max() == 100.0


def test_timeline_strip_has_phase_bands_and_one_bar_per_fault(figures):
    (ax,) = figures["timeline"].axes
    gids = {c.get_gid(): c for c in ax.collections}
    assert {f"phase-band:{p}" for p in PHASES} | {"fault-bar:brownout.0"} <= set(gids)
    assert to_hex(gids["phase-band:brownout"].get_facecolor()[0]) == phase_colour(1)
    ((x, width),) = [
        (p.vertices[0][0], p.vertices[2][0] - p.vertices[0][0]) for p in gids["fault-bar:brownout.0"].get_paths()
    ]
    assert (x, width) == pytest.approx((10.0, 10.0))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["http_error 503 p=0.5 token", "phases"]


def test_phase_names_take_the_phase_colour_on_time_axes(figures):
    ax = figures["availability"].axes[0]
    colours = {t.get_text(): to_hex(t.get_color()) for t in ax.texts}
    assert colours["brownout"] == phase_colour(1)
