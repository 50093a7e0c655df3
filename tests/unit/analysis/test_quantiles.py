"""Exact percentiles from order statistics equal numpy's to the last bit; the histogram finds the order
statistics whatever the data, and its estimate stays within the stated bound."""

import numpy as np
import pytest

from harness.analysis.metrics import PERCENTILES
from harness.analysis.quantiles import (
    SKETCH_RELATIVE_ERROR,
    Histogram,
    OrderStatistics,
    interpolate_many,
    percentiles_of_sorted,
    ranks,
)

QS = list(PERCENTILES.values())


def histogram_of(values: np.ndarray) -> Histogram:
    """The histogram the SQL of harness.analysis.aggregate computes, in numpy (same bucket rule)."""
    with np.errstate(divide="ignore"):
        log = np.floor(np.log2(np.abs(values)) * 128)
    buckets = np.where(values > 0, (1 << 20) + log, np.where(values < 0, -(1 << 20) - log, 0)).astype(np.int64)
    ids, where = np.unique(buckets, return_inverse=True)
    lows, highs = np.full(ids.size, np.inf), np.full(ids.size, -np.inf)
    np.minimum.at(lows, where, values)
    np.maximum.at(highs, where, values)
    return Histogram(ids, np.bincount(where).astype(np.int64), lows, highs)


def samples(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(2.0, 1.0, n)
    tied = rng.random(n) < 0.3
    values[tied] = np.round(values[tied], 1)  # many equal samples
    return values


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 99, 1000, 12_345])
def test_percentiles_from_order_statistics_equal_numpy_bit_for_bit(n):
    for seed in range(5):
        values = samples(seed, n)
        expected = np.percentile(values, QS)
        assert percentiles_of_sorted(np.sort(values), QS) == list(expected)


def test_the_vectorised_interpolation_equals_numpy_too():
    groups = [samples(seed, n) for seed, n in enumerate([1, 2, 5, 40, 999, 5000])]
    for q in QS:
        lows, highs, sizes = [], [], []
        for values in groups:
            lo, hi = ranks(values.size, q)
            ordered = np.sort(values)
            lows.append(ordered[lo])
            highs.append(ordered[hi])
            sizes.append(values.size)
        found = interpolate_many(np.array(lows), np.array(highs), np.array(sizes), q)
        assert list(found) == [np.percentile(values, q) for values in groups]


def test_order_statistics_of_unions_of_groups_are_exact():
    rng = np.random.default_rng(3)
    groups = {"a": rng.lognormal(1, 0.5, 5000), "b": rng.lognormal(3, 0.2, 300), "c": np.full(700, 12.5)}
    histograms = {name: histogram_of(values) for name, values in groups.items()}
    order = OrderStatistics()
    plans = {
        members: order.plan(members, Histogram.merge(histograms[m] for m in members), QS)
        for members in [("a",), ("b", "c"), ("a", "b", "c")]
    }
    fetched: dict[object, tuple[np.ndarray, np.ndarray]] = {}
    for key, wanted in order.wanted.items():
        name = str(key)
        keep = np.isin(histograms[name].buckets, sorted(wanted))
        values = groups[name]
        bucket_of = histogram_of(values)
        all_buckets = bucket_of.buckets[np.searchsorted(bucket_of.buckets, _buckets(values))]
        mask = np.isin(all_buckets, histograms[name].buckets[keep])
        fetched[name] = (all_buckets[mask], values[mask])
    assert fetched["a"][1].size < groups["a"].size / 10  # only the buckets asked for
    order.supply(fetched)
    for members, plan in plans.items():
        union = np.concatenate([groups[m] for m in members])
        assert order.percentiles(plan, union.size, QS) == list(np.percentile(union, QS))


def _buckets(values: np.ndarray) -> np.ndarray:
    found: np.ndarray = ((1 << 20) + np.floor(np.log2(values) * 128)).astype(np.int64)
    return found


def test_buckets_that_overlap_in_value_are_fetched_together():
    """log2 rounding may put a sample a hair below a bucket edge into the bucket above: the span then holds
    both buckets, so that the rank counted below it is right whichever way the rounding went."""
    histogram = Histogram(
        buckets=np.array([10, 11, 12]),
        counts=np.array([5, 5, 5]),
        lows=np.array([1.0, 2.0, 3.0]),
        highs=np.array([2.0000001, 2.9, 4.0]),  # bucket 10's largest sample lies inside bucket 11's range
    )
    assert histogram.span(7) == ((10, 11), 0)
    assert histogram.span(12) == ((12,), 10)


def test_the_sketch_is_within_its_stated_bound():
    values = np.random.default_rng(7).lognormal(3.0, 1.2, 200_000)
    found = histogram_of(values).percentiles(QS)
    exact = np.percentile(values, QS)
    assert np.all(np.abs(np.array(found) - exact) <= SKETCH_RELATIVE_ERROR * exact)
    assert found[-1] == exact[-1]  # the largest sample is kept exactly
    assert pytest.approx(0.0054, abs=1e-4) == SKETCH_RELATIVE_ERROR


def test_histograms_merge_by_adding_counts_and_keeping_extremes():
    a, b = np.array([1.0, 1.001, 50.0]), np.array([1.0005, 60.0])
    merged = Histogram.merge([histogram_of(a), histogram_of(b)])
    whole = histogram_of(np.concatenate([a, b]))
    assert merged.count == 5
    for field in ("buckets", "counts", "lows", "highs"):
        assert np.array_equal(getattr(merged, field), getattr(whole, field))


def test_the_cdf_is_the_exact_share_at_or_below_each_bucket_edge():
    values = np.array([0.0, 1.0, 1.0, 2.0, 30.0, 31.0])
    x, y = histogram_of(values).cdf()
    assert x[0] == 1.0 and x[-1] == 31.0  # zeros cannot sit on a log axis
    for edge, share in zip(x[1:], y[1:], strict=True):
        positive = values[values > 0]
        assert share == (positive <= edge).sum() / positive.size
