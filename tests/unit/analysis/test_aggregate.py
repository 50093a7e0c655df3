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
