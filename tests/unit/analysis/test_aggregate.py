"""The out-of-core reductions give what the in-memory definitions give on the same records: a slice's
tally equals `Tally.of` its rows, the per-second tables equal `metrics.per_second`, the seeded samples pick
the same records; past the exact limit the report says its percentiles are estimates, within the bound."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.synth import Shape, synthesise
from harness.analysis import metrics, per_second, quantiles, statistics
from harness.analysis.aggregate import Slice
from harness.analysis.frames import load_run
from harness.analysis.summary import summarize
from harness.records import read_records

SLICES = [
    Slice("operation"),
    Slice("operation", journeys=False),
    Slice("operation", ("brownout",), journeys=False),
    Slice("operation", ("baseline", "recovery"), ("aws_device_login",)),
    Slice("operation", None, ("refresh_token",), ("token", "journey")),
    Slice("attempt"),
    Slice("attempt", ("brownout",), steps=("token",)),
    Slice("attempt", ("no-such-phase",)),
]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run at a real run's shape, open-loop, with many equal timestamps and a few broken rows."""
    run_dir = tmp_path_factory.mktemp("mixed") / "run"
    synthesise(run_dir, Shape(40_000, nodes=3, rate=2_000, seed=4, open_loop=True, tie_ms=True))
    path = sorted((run_dir / "records").glob("operations-w2-*.parquet"))[5]
    table = read_records(run_dir / "records", "operations").slice(0, 0)
    broken = pd.read_parquet(path)
    broken.loc[broken.index[:3], "latency_ms"] = np.nan  # a latency that never came
    broken.loc[broken.index[3:5], "status"] = None
    broken.to_parquet(path, schema=table.schema, index=False)
    return run_dir


def frame(run_dir: Path, kind: str) -> pd.DataFrame:
    """All records of a kind in record order, the way the in-memory analysis read them."""
    found = read_records(run_dir / "records", kind).to_pandas()
    return found.sort_values("ts", kind="stable", ignore_index=True)


def rows(records: pd.DataFrame, part: Slice) -> pd.DataFrame:
    keep = pd.Series(True, index=records.index)
    for column, values in (("phase", part.phases), ("flow", part.flows), ("step", part.steps)):
        if values is not None:
            keep &= records[column].isin(values)
    if not part.journeys:
        keep &= records["step"] != "journey"
    return records[keep]


@pytest.mark.parametrize("part", SLICES, ids=Slice.describe)
def test_a_slice_tallies_as_its_rows_do_in_memory(mixed, part):
    records = frame(mixed, "operations" if part.scope == "operation" else "attempts")
    expected = metrics.Tally.of(rows(records, part))
    with load_run(mixed) as run:
        found = run.stats.tally(part)
    assert found.backoff_sum_ms == pytest.approx(expected.backoff_sum_ms, rel=1e-12)
    assert found.latency_sum_ms == pytest.approx(expected.latency_sum_ms, rel=1e-12)
    sums = {"backoff_sum_ms": 0.0, "latency_sum_ms": 0.0}
    assert found.__dict__ | sums == expected.__dict__ | sums  # every count and percentile, exactly


def test_per_second_tables_match_the_in_memory_ones(mixed):
    with load_run(mixed) as run:
        operations, attempts, t0 = run.operations_per_second, run.attempts_per_second, run.t0
        steps = per_second.step_latency(run.records, ["token", "journey"], t0)
    records = frame(mixed, "operations")
    expected = metrics.per_second(records[records["step"] != "journey"], t0)
    pd.testing.assert_frame_equal(operations.sort_index(axis=1), expected.sort_index(axis=1), check_dtype=False)
    expected = metrics.per_second(frame(mixed, "attempts"), t0).drop(columns=list(metrics.SERIES_PERCENTILES))
    pd.testing.assert_frame_equal(attempts.sort_index(axis=1), expected.sort_index(axis=1), check_dtype=False)
    token = metrics.per_second(records[records["step"] == "token"], t0)[list(metrics.SERIES_PERCENTILES)]
    pd.testing.assert_frame_equal(steps["token"], token.dropna(how="all"), check_dtype=False)


def test_the_seeded_sample_picks_the_same_records_from_the_files(mixed, monkeypatch):
    monkeypatch.setattr(statistics, "MAX_LATENCY_SAMPLES", 1000)
    part = Slice("operation", ("brownout",), journeys=False)
    expected = metrics.Tally.of(rows(frame(mixed, "operations"), part), sample=True).sample
    with load_run(mixed) as run:
        found = run.stats.sampled(part).sample
    assert found is not None and expected is not None and found.size == 1000
    assert np.array_equal(found, expected)


def test_past_the_exact_limit_percentiles_are_estimates_the_report_states(mixed, monkeypatch):
    with load_run(mixed) as run:
        exact = summarize(run)
    monkeypatch.setattr(quantiles, "EXACT_MAX_SAMPLES", 2_000)
    with load_run(mixed) as run:
        estimated = summarize(run)
    precision = estimated["latency_percentiles"]
    assert precision["exact_max_samples"] == 2_000
    assert "operations, phases brownout, steps only" in precision["sketched"]
    assert any("come from a log-bucket histogram" in note for note in estimated["notes"])
    assert exact["latency_percentiles"]["sketched"] == []
    for name in ("baseline", "brownout"):
        for q, value in exact["phases"][name]["latency_ms"]["operation"].items():
            found = estimated["phases"][name]["latency_ms"]["operation"][q]
            assert abs(found - value) <= quantiles.SKETCH_RELATIVE_ERROR * value


def test_the_summary_finds_every_percentile_in_one_fetch_per_value(mixed):
    """Its slices are planned up front (summary.slices): a slice it forgot would cost one more scan. One
    fetch for attempt latency, three for operations: latency, closed-loop and open-loop (this run is
    open-loop)."""
    with load_run(mixed) as run:
        summarize(run)
        assert run.stats.fetch_scans == 4


def test_shards_and_compacted_files_give_the_same_report_to_the_last_bit(mixed, tmp_path):
    """Sums are taken in fixed point, so neither the layout nor the order DuckDB adds in moves a digit."""
    import shutil

    from harness.analysis.compact import compact
    from harness.analysis.summary import build_summary

    copy = tmp_path / "run"
    shutil.copytree(mixed, copy)
    compact(copy)
    assert build_summary(copy) == build_summary(mixed)


# --- records still in flight when their phase ended ------------------------------------------------------

# Phase a ran [100, 110), b [110, 120). A record belongs to the phase it began in; the two marked * were still
# running when their phase ended (ts + latency_ms / 1000 after the end) and met the next phase's fault.
IN_FLIGHT_ROWS: list[tuple[float, str, str, float | None]] = [
    (101.0, "a", "ok", 10.0),
    (109.90, "a", "ok", 50.0),  # ended 109.95: inside a
    (109.98, "a", "http_5xx", 3000.0),  # * ended 112.98
    (109.99, "a", "ok", 900.0),  # * ended 110.89
    (110.0, "a", "ok", None),  # no latency: its end is unknown, so it is kept
    (111.0, "b", "ok", 20.0),
    (119.99, "b", "timeout", 5000.0),  # * ended 124.99
]


def _in_flight_stats(tmp_path: Path, ends: dict[str, float | None] | None):
    from harness.analysis.aggregate import Aggregates
    from harness.analysis.scan import Records
    from harness.records import ShardWriter
    from tests.unit.analysis.synthetic import full_row

    writer = ShardWriter(tmp_path / "records", "attempts", "n1")
    for ts, phase, outcome, latency in IN_FLIGHT_ROWS:
        writer.append(full_row("attempts", {"ts": ts, "phase": phase, "outcome": outcome, "latency_ms": latency,
                                            "flow": "f", "step": "token"}))  # fmt: skip
    writer.flush()
    records = Records(tmp_path / "records")
    stats = Aggregates(records)
    if ends is not None:
        stats.set_phase_ends(ends)
    return records, stats


def test_a_slice_can_leave_out_records_still_in_flight_when_their_phase_ended(tmp_path: Path) -> None:
    records, stats = _in_flight_stats(tmp_path, {"a": 110.0, "b": 120.0})
    with records:
        settled = stats.tally(Slice("attempt", ("a",), exclude_in_flight=True))
        assert settled.count == 3 and settled.outcomes == {"ok": 3}
        assert settled.latency.count == 2 and settled.latency.percentiles["max"] == 50.0  # exact, over the rest
        assert stats.left_out(Slice("attempt", ("a",), exclude_in_flight=True)) == {"a": 2}
        both = Slice("attempt", exclude_in_flight=True)
        assert stats.tally(both).count == 4 and stats.left_out(both) == {"a": 2, "b": 1}
        assert stats.histogram(both).count == 3
        # the default is unchanged: every record of the phase counts
        everything = stats.tally(Slice("attempt", ("a",)))
        assert everything.count == 5 and everything.outcomes == {"ok": 4, "http_5xx": 1}
        assert stats.left_out(Slice("attempt", ("a",))) == {}


def test_without_a_phase_end_nothing_is_left_out_and_it_says_so(tmp_path: Path) -> None:
    records, stats = _in_flight_stats(tmp_path, {"a": 110.0})  # b still running: no end yet
    with records:
        part = Slice("attempt", exclude_in_flight=True)
        assert stats.tally(part).count == 5 and stats.left_out(part) == {"a": 2, "b": None}
    records, stats = _in_flight_stats(tmp_path / "none", None)  # no phase window at all
    with records:
        part = Slice("attempt", exclude_in_flight=True)
        assert stats.tally(part).count == 7 and stats.left_out(part) == {"a": None, "b": None}


def test_runs_without_the_option_group_their_records_once(tmp_path: Path) -> None:
    records, stats = _in_flight_stats(tmp_path, {"a": 110.0, "b": 120.0})
    with records:
        stats.prepare([Slice("attempt"), Slice("attempt", ("a",))])
        assert list(stats._groups) == [("attempt", False)]
