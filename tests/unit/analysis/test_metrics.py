import math

import numpy as np
import pandas as pd
import pytest

from harness.analysis import metrics
from harness.analysis.metrics import Baseline

Z = 1.959963984540054  # two-sided 95% normal quantile


def frame(outcomes, latencies=None, ts=None, attempts=None):
    n = len(outcomes)
    return pd.DataFrame(
        {
            "ts": ts if ts is not None else np.arange(n, dtype=float),
            "outcome": outcomes,
            "latency_ms": latencies if latencies is not None else np.full(n, 10.0),
            "attempts": attempts if attempts is not None else np.ones(n, dtype=int),
        }
    )


def wilson_by_hand(k, n):
    p = k / n
    denominator = 1 + Z**2 / n
    centre = (p + Z**2 / (2 * n)) / denominator
    half = Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2)) / denominator
    return centre - half, centre + half


def test_availability_is_ok_over_total_with_a_wilson_interval():
    f = frame(["ok"] * 90 + ["http_5xx"] * 7 + ["timeout"] * 3)
    assert metrics.availability(f) == pytest.approx(0.9)
    interval = metrics.availability_interval(f)
    assert interval is not None
    low, high = interval
    assert (low, high) == pytest.approx((0.825634, 0.944771), abs=1e-6)
    assert (low, high) == pytest.approx(wilson_by_hand(90, 100))


def test_error_rate_mirrors_availability():
    f = frame(["ok"] * 90 + ["http_5xx"] * 10)
    assert metrics.error_rate(f) == pytest.approx(0.1)
    interval = metrics.error_rate_interval(f)
    assert interval is not None
    low, high = interval
    assert (low, high) == pytest.approx((1 - 0.944771, 1 - 0.825634), abs=1e-6)


def test_wilson_interval_at_the_edges():
    assert metrics.wilson_interval(0, 0) is None
    interval = metrics.wilson_interval(10, 10)
    assert interval is not None
    low, high = interval
    assert high == pytest.approx(1.0)
    assert low == pytest.approx(10 / (10 + Z**2))


def test_a_metric_of_nothing_is_none_not_zero():
    empty = frame([])
    assert metrics.availability(empty) is None
    assert metrics.availability_interval(empty) is None
    assert metrics.error_rate(empty) is None
    assert metrics.attempts_per_operation(empty) is None
    assert metrics.give_up_rate(empty) is None
    assert metrics.latency_percentile(empty, 99) is None
    assert metrics.latency_percentiles(empty) == dict.fromkeys(["p50", "p90", "p95", "p99", "p99.9", "max"])


def test_percentiles_come_from_raw_samples():
    f = frame(["ok"] * 100, latencies=np.arange(1.0, 101.0))
    assert metrics.latency_percentiles(f) == pytest.approx(
        {"p50": 50.5, "p90": 90.1, "p95": 95.05, "p99": 99.01, "p99.9": 99.901, "max": 100.0}
    )
    assert metrics.latency_percentile(f, 99) == pytest.approx(99.01)


def test_attempts_per_operation_is_the_mean_of_operation_attempts():
    assert metrics.attempts_per_operation(frame(["ok"] * 4, attempts=[1, 1, 3, 5])) == 2.5


def test_give_up_rate_counts_failed_operations_optionally_only_retryable_ones():
    f = frame(["ok", "http_5xx", "http_4xx", "ok"])
    assert metrics.give_up_rate(f) == 0.5
    assert metrics.give_up_rate(f, retry_on=("http_5xx", "timeout")) == 0.25


def test_throughput_is_operations_per_second_of_duration():
    f = frame(["ok"] * 4)
    assert metrics.throughput_ops(f, 2.0) == 2.0
    assert metrics.throughput_ops(f, 0.0) is None
    assert metrics.throughput_ops(f, None) is None


def test_outcome_breakdown_and_unauthorized_accepted():
    f = frame(["ok", "http_5xx", "security_violation", "ok", "security_violation"])
    assert metrics.outcome_counts(f) == {"http_5xx": 1, "ok": 2, "security_violation": 2}
    assert metrics.unauthorized_accepted(f) == 2
    assert metrics.unauthorized_accepted(frame(["ok"])) == 0


def test_time_series_use_one_second_windows_from_t0():
    t0 = 1000.0
    f = frame(
        ["ok", "http_5xx", "ok", "ok", "ok"],
        latencies=[10.0, 30.0, 5.0, 7.0, 9.0],
        ts=[1000.1, 1000.9, 1001.0, 1003.5, 1003.99],
        attempts=[1, 3, 1, 1, 2],
    )
    table = metrics.per_second(f, t0)
    assert metrics.availability_series(table).to_dict() == {0: 0.5, 1: 1.0, 3: 1.0}
    assert metrics.count_series(table, length=5).to_dict() == {0: 2, 1: 1, 2: 0, 3: 2, 4: 0}
    assert metrics.throughput_series(table).to_dict() == {0: 2.0, 1: 1.0, 3: 2.0}
    assert metrics.attempts_per_operation_series(table).to_dict() == {0: 2.0, 1: 1.0, 3: 1.5}
    assert metrics.outcome_series(table, length=4).to_dict("list") == {"ok": [1, 1, 0, 2], "http_5xx": [1, 0, 0, 0]}
    latency = metrics.latency_series(table, ["p50", "p99"])
    assert latency.loc[0].tolist() == [20.0, 29.8]
    assert latency.loc[3].tolist() == [8.0, 8.98]


# --- recovery ------------------------------------------------------------------------------------

T0 = 1_000_000.0


def step_operations(bad_seconds, seconds=40, per_second=10, latency_ms=20.0):
    """Ten operations a second; in a bad second every other operation fails (availability 0.5)."""
    second = np.repeat(np.arange(seconds), per_second)
    i = np.tile(np.arange(per_second), seconds)
    bad = np.isin(second, list(bad_seconds)) & (i % 2 == 1)
    return pd.DataFrame(
        {
            "ts": T0 + second + i / per_second,
            "outcome": np.where(bad, "http_5xx", "ok"),
            "latency_ms": np.full(second.size, latency_ms),
            "attempts": np.ones(second.size, dtype=int),
        }
    )


def test_tolerance_constants_shape_the_baseline_bounds():
    assert Baseline(0.99, 10.0).availability_floor == pytest.approx(0.99 - metrics.AVAILABILITY_DROP_TOLERANCE)
    assert Baseline(0.99, 10.0).p95_ceiling_ms == 10.0 + metrics.P95_SLACK_MS  # slack wins for fast services
    assert Baseline(1.0, 100.0).p95_ceiling_ms == metrics.P95_FACTOR * 100.0  # factor wins for slow ones
    assert Baseline.of(frame([])) is None


def test_time_to_recover_on_a_step_function():
    """Availability 1.0, then 0.5 during the fault [10, 20), back to 1.0 two seconds after removal."""
    ops = step_operations(bad_seconds=range(10, 22))
    baseline = Baseline.of(ops[ops["ts"] < T0 + 10])
    assert baseline is not None
    health = metrics.window_health(metrics.per_second(ops, T0), baseline)
    found = metrics.recovery(health, T0, start=T0 + 10, end=T0 + 20, horizon_end=T0 + 40)
    assert found.recovered is True
    assert found.time_to_recover_s == pytest.approx(2.0, abs=1.0)  # within one window
    assert found.time_to_recover_s == 2.0
    assert found.time_to_detect_s == 0.0


def test_detection_waits_for_the_first_window_out_of_tolerance():
    ops = step_operations(bad_seconds=range(13, 20))
    health = metrics.window_health(metrics.per_second(ops, T0), Baseline(1.0, 20.0))
    found = metrics.recovery(health, T0, start=T0 + 10.4, end=T0 + 20, horizon_end=T0 + 40)
    assert found.time_to_detect_s == pytest.approx(2.6)
    assert (found.time_to_recover_s, found.recovered) == (0.0, True)


def test_latency_alone_can_break_tolerance():
    ops = step_operations(bad_seconds=())
    ops.loc[(ops["ts"] >= T0 + 10) & (ops["ts"] < T0 + 25), "latency_ms"] = 500.0
    health = metrics.window_health(metrics.per_second(ops, T0), Baseline(1.0, 20.0))
    assert not health.loc[10:24, "healthy"].any()
    assert health.loc[25:, "healthy"].all()
    assert metrics.time_to_recover_s(health, T0, T0 + 20, T0 + 40) == (5.0, True)


def test_never_recovered_reports_the_time_to_the_end_of_the_data_and_false():
    ops = step_operations(bad_seconds=range(10, 40))
    health = metrics.window_health(metrics.per_second(ops, T0), Baseline(1.0, 20.0))
    ttr, recovered = metrics.time_to_recover_s(health, T0, T0 + 20, T0 + 39.9)
    assert ttr == pytest.approx(19.9)
    assert recovered is False


def test_nothing_observed_after_removal_is_not_a_recovery():
    ops = step_operations(bad_seconds=(), seconds=20)
    health = metrics.window_health(metrics.per_second(ops, T0), Baseline(1.0, 20.0))
    assert metrics.time_to_recover_s(health, T0, T0 + 20, T0 + 25) == (5.0, False)


def test_windows_without_operations_are_skipped_not_judged():
    ops = step_operations(bad_seconds=range(10, 21))
    ops = ops[(ops["ts"] < T0 + 21) | (ops["ts"] >= T0 + 24)]  # silence in seconds 21..23
    health = metrics.window_health(metrics.per_second(ops, T0), Baseline(1.0, 20.0))
    assert metrics.time_to_recover_s(health, T0, T0 + 20, T0 + 40) == (4.0, True)


def test_no_baseline_means_no_recovery_numbers():
    found = metrics.recovery(None, T0, T0, T0 + 1, T0 + 2)
    assert (found.time_to_detect_s, found.time_to_recover_s, found.recovered) == (None, None, None)
    assert found.note == "no baseline operations to compare with"


@pytest.mark.parametrize("n", [1, 7, 60, 300, 5000])
def test_percentile_and_mean_intervals_are_those_of_the_in_memory_definitions(n) -> None:
    from tests.reference.inmemory import metrics as reference

    rng = np.random.default_rng(n)
    frame = pd.DataFrame({"latency_ms": rng.lognormal(3, 1, n), "attempts": rng.integers(1, 4, n).astype(float)})
    tally = metrics.Tally.of(frame)
    for q in (50.0, 90.0, 95.0, 99.0, 99.9):
        assert metrics.percentile_interval(tally, q) == reference.percentile_interval(frame, q), q
    expected = reference.attempts_per_operation_interval(frame)
    found = metrics.attempts_per_operation_interval(tally)
    assert (found is None) == (expected is None)
    if found is not None and expected is not None:
        assert found == pytest.approx(expected, rel=1e-12)
