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


def test_no_failure_anywhere_is_no_difference():
    same = ops(["ok"] * 5, [1, 2, 3, 4, 5])
    assert availability_difference(same, same) == {
        "difference": 0.0,
        "interval": [0.0, 0.0],
        "p_value": 1.0,
        "test": "none",
    }


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
