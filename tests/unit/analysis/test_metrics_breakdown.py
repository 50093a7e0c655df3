"""Metrics added for issue 8: statuses, backoff share, closed/open-loop latency, error budget, p99.9."""

import numpy as np
import pandas as pd
import pytest

from harness.analysis import metrics


def ops(latencies, ts, intended=None, backoff=None, status=None):
    n = len(latencies)
    return pd.DataFrame(
        {
            "ts": np.asarray(ts, dtype=float),
            "outcome": ["ok"] * n,
            "status": status if status is not None else [200] * n,
            "latency_ms": np.asarray(latencies, dtype=float),
            "backoff_ms": backoff if backoff is not None else np.zeros(n),
            "intended_ts": intended if intended is not None else [None] * n,
            "attempts": np.ones(n, dtype=int),
        }
    )


def test_status_breakdown_keys_are_strings_and_zero_means_no_response():
    f = ops([1, 1, 1, 1], [0, 1, 2, 3], status=[200, 503, 503, 0])
    assert metrics.status_counts(f) == {"0": 1, "200": 1, "503": 2}


def test_backoff_share_is_sleep_over_total_wait():
    f = ops([100, 300], [0, 1], backoff=[0.0, 100.0])
    assert metrics.backoff_share(f) == pytest.approx(0.25)
    assert metrics.backoff_share(f.iloc[:0]) is None


def test_closed_loop_only_has_no_open_loop_latency():
    f = ops([10, 20, 30], [0, 1, 2])
    found = metrics.closed_and_open_loop_latency(f)
    assert found["open_loop"] is None
    assert found["closed_loop"] is not None
    assert found["closed_loop"]["max"] == 30.0
    assert not metrics.has_open_loop(f)


def test_open_loop_latency_is_recorded_and_closed_loop_removes_the_wait():
    # Operation 2 started 0.5 s late: the client recorded 510 ms (10 ms service + 500 ms waiting).
    f = ops([10, 510], [100.0, 200.5], intended=[100.0, 200.0])
    found = metrics.closed_and_open_loop_latency(f)
    assert found["open_loop"] is not None and found["closed_loop"] is not None
    assert found["open_loop"]["max"] == 510.0
    assert found["closed_loop"]["max"] == pytest.approx(10.0)
    assert metrics.has_open_loop(f)


def test_error_budget_burned_is_failures_over_allowed():
    f = pd.DataFrame({"outcome": ["ok"] * 995 + ["http_5xx"] * 5})
    budget = metrics.error_budget(f, 0.99)
    assert (budget["total"], budget["failed"]) == (1000, 5)
    assert budget["allowed_failures"] == pytest.approx(10.0)
    assert budget["burned"] == pytest.approx(0.5)
    assert metrics.error_budget(f, 1.0)["burned"] is None
    assert metrics.error_budget(f.iloc[:995], 1.0)["burned"] == 0.0


def test_p99_9_comes_from_raw_samples():
    f = ops(np.arange(1.0, 1001.0), np.arange(1000))
    assert metrics.latency_percentiles(f)["p99.9"] == pytest.approx(999.001)
