import numpy as np
import pandas as pd
import pytest

from harness.analysis.statistics import availability_difference, compare_with_baseline, latency_shift


def ops(outcomes, latencies):
    return pd.DataFrame({"outcome": outcomes, "latency_ms": np.asarray(latencies, dtype=float)})


def test_availability_difference_uses_fisher_on_small_samples():
    base = ops(["ok"] * 20, [10] * 20)
    worse = ops(["ok"] * 10 + ["http_5xx"] * 10, [10] * 20)
    found = availability_difference(base, worse)
    assert found is not None
    assert found["difference"] == pytest.approx(-0.5)
    assert found["test"] == "fisher_exact"
    assert found["p_value"] < 0.001


def test_no_failure_anywhere_is_no_difference_but_not_no_uncertainty():
    """Zero failures on both sides: the difference is 0, but five calls a side cannot rule out a real one;
    the interval (Newcombe, from the Wilson intervals) says how large it could be."""
    same = ops(["ok"] * 5, [1, 2, 3, 4, 5])
    found = availability_difference(same, same)
    assert found is not None
    assert (found["difference"], found["p_value"], found["test"]) == (0.0, 1.0, "none")
    low, high = found["interval"]
    assert low == pytest.approx(-0.4345, abs=1e-4) and high == pytest.approx(0.4345, abs=1e-4)
    assert found["interval_method"] == "newcombe"
    big = ops(["ok"] * 10_000, [1] * 10_000)
    found = availability_difference(big, big)
    assert found is not None and 0 < found["interval"][1] < 0.001  # many calls: a narrow, honest interval


def test_newcombe_interval_matches_the_published_example():
    """Newcombe (1998), Table II, example (a): 56/70 vs 48/80 -> difference 0.2, 95% CI 0.0524 to 0.3339."""
    from harness.analysis.statistics import proportion_difference_interval

    low, high = proportion_difference_interval(48, 80, 56, 70)  # second minus first
    assert low == pytest.approx(0.0524, abs=1e-4) and high == pytest.approx(0.3339, abs=1e-4)


def test_bootstrap_intervals_only_where_the_tail_has_samples():
    from harness.analysis.statistics import percentile_differences

    small = ops(["ok"] * 200, np.arange(200))
    found = percentile_differences(small, small)
    assert found is not None
    assert found["p50"]["interval"] is not None and found["p50"]["interval_method"] == "bootstrap"
    assert found["p99"]["interval"] is None  # 2 samples beyond the p99 of 200: a bootstrap would repeat them
    assert "too few samples" in found["p99"]["interval_note"]


def test_latency_shift_has_cliffs_delta_from_minus_one_to_one():
    base = ops(["ok"] * 50, np.arange(50))
    slower = ops(["ok"] * 50, np.arange(100, 150))
    found = latency_shift(base, slower)
    assert found is not None
    assert found["cliffs_delta"] == pytest.approx(1.0)
    assert found["p_value"] < 1e-6
    reverse = latency_shift(slower, base)
    assert reverse is not None
    assert reverse["cliffs_delta"] == pytest.approx(-1.0)


def test_empty_sides_give_none():
    assert compare_with_baseline(ops([], []), ops(["ok"], [1])) == {"availability": None, "latency": None}
