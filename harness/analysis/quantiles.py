"""Percentiles of latency samples that are never all in memory at once: exact from a few order statistics,
or, for groups past EXACT_MAX_SAMPLES, from a mergeable log-bucket histogram with a stated error bound.

The definition is numpy's default (linear, Hyndman & Fan type 7): the q-th percentile of n samples lies at
the virtual index (n - 1) * q / 100 of the sorted samples, interpolated between the order statistics on
either side. `interpolate` reproduces numpy's arithmetic step by step, so a percentile computed from the two
order statistics equals `np.percentile` of all the samples bit for bit (tests/unit/analysis/
test_quantiles.py checks it on random data).

The histogram (`Histogram`) has BUCKETS_PER_OCTAVE log-spaced buckets per power of two, like HdrHistogram,
and keeps the count, smallest and largest sample of each bucket. Histograms of disjoint groups merge by
adding counts, so one scan gives the histogram of every union of groups (a phase, an SLO's flows and steps,
the whole run). From it:
- the bucket holding any rank, and how many samples lie below it; the order statistic itself is then found
  by fetching only that bucket's samples (`needed` then `OrderStatistics`), which keeps exact percentiles
  cheap in memory however large the group;
- past EXACT_MAX_SAMPLES, an estimate within the bucket's own [smallest, largest] samples, so off by at
  most the bucket's width: SKETCH_RELATIVE_ERROR of the value (0.55% at 128 buckets per octave).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Percentiles of a group of at most this many samples are exact; larger groups use the histogram.
EXACT_MAX_SAMPLES = 10_000_000
BUCKETS_PER_OCTAVE = 128
# A bucket spans [2^(b/128), 2^((b+1)/128)): the estimate and the truth both lie in it.
SKETCH_RELATIVE_ERROR = 2.0 ** (1.0 / BUCKETS_PER_OCTAVE) - 1.0
# Bucket ids in SQL (harness.analysis.scan.bucket_sql): 0 holds zeros, OFFSET + floor(log2(x) * 128) a
# positive x, its negation a negative one; OFFSET keeps the two sides apart for any finite double.
BUCKET_OFFSET = 1 << 20


def virtual_index(n: int, q: float) -> float:
    """numpy's linear method: where the q-th percentile (0..100) of n samples lies in the sorted samples."""
    return float((n - 1) * np.true_divide(q, 100))


def ranks(n: int, q: float) -> tuple[int, int]:
    """The 0-based ranks of the two order statistics the q-th percentile of n samples is interpolated from."""
    below = math.floor(virtual_index(n, q))
    return below, min(below + 1, n - 1)


def interpolate(below: float, above: float, n: int, q: float) -> float:
    """The q-th percentile from its two order statistics, with numpy's arithmetic (numpy's `_lerp`)."""
    index = np.float64(virtual_index(n, q))
    gamma = index - np.floor(index)
    a, b = np.float64(below), np.float64(above)
    diff = b - a
    if gamma >= 0.5:
        return float(b - diff * (1 - gamma))
    return float(a + diff * gamma)


def interpolate_many(below: np.ndarray, above: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """`interpolate` over arrays: the q-th percentile of many groups of n[i] samples."""
    index = (np.asarray(n, dtype=np.int64) - 1) * np.true_divide(q, 100)
    gamma = index - np.floor(index)
    a, b = np.asarray(below, dtype=float), np.asarray(above, dtype=float)
    diff = b - a
    found: np.ndarray = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    return found


def percentiles_of_sorted(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Percentiles of an already sorted array of samples (no NaN)."""
    n = values.size
    out = []
    for q in qs:
        lo, hi = ranks(n, q)
        out.append(interpolate(values[lo], values[hi], n, q))
    return out


@dataclass(frozen=True)
class Histogram:
    """Per bucket (ascending id): how many samples, the smallest and the largest. Mergeable by `merge`."""

    buckets: np.ndarray  # int64, ascending, unique
    counts: np.ndarray  # int64
    lows: np.ndarray  # float64, smallest sample of each bucket
    highs: np.ndarray  # float64, largest sample of each bucket

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def empty(cls) -> Histogram:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))

    @classmethod
    def merge(cls, parts: Iterable[Histogram]) -> Histogram:
        parts = [p for p in parts if p.buckets.size]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        buckets = np.concatenate([p.buckets for p in parts])
        ids, where = np.unique(buckets, return_inverse=True)
        counts = np.bincount(where, weights=np.concatenate([p.counts for p in parts]), minlength=ids.size)
        lows = np.full(ids.size, np.inf)
        highs = np.full(ids.size, -np.inf)
        np.minimum.at(lows, where, np.concatenate([p.lows for p in parts]))
        np.maximum.at(highs, where, np.concatenate([p.highs for p in parts]))
        return cls(ids, counts.astype(np.int64), lows, highs)

    def span(self, rank: int) -> tuple[tuple[int, ...], int]:
        """The bucket ids whose samples hold the `rank`-th smallest (0-based), and the number of samples in
        the buckets before them. Usually one bucket; widened when neighbouring buckets overlap in value
        (log2 rounding at a bucket edge), so that the answer never depends on that rounding."""
        cum = np.cumsum(self.counts)
        first = last = int(np.searchsorted(cum, rank, side="right"))
        before_max = np.maximum.accumulate(self.highs)
        after_min = np.minimum.accumulate(self.lows[::-1])[::-1]
        while True:
            low, high = self.lows[first : last + 1].min(), self.highs[first : last + 1].max()
            if first > 0 and before_max[first - 1] > low:
                first -= 1
            elif last < self.buckets.size - 1 and after_min[last + 1] < high:
                last += 1
            else:
                break
        below = int(cum[first - 1]) if first > 0 else 0
        return tuple(int(b) for b in self.buckets[first : last + 1]), below

    def estimate(self, rank: int) -> float:
        """The `rank`-th smallest sample, estimated within its bucket's [smallest, largest] by its rank."""
        cum = np.cumsum(self.counts)
        i = int(np.searchsorted(cum, rank, side="right"))
        below = int(cum[i - 1]) if i > 0 else 0
        count, low, high = int(self.counts[i]), float(self.lows[i]), float(self.highs[i])
        if count <= 1 or high == low:
            return low
        return low + (high - low) * (rank - below) / (count - 1)

    def percentiles(self, qs: Sequence[float]) -> list[float]:
        """Sketch percentiles: each order statistic estimated in its bucket, then numpy's interpolation."""
        n = self.count
        out = []
        for q in qs:
            lo, hi = ranks(n, q)
            out.append(interpolate(self.estimate(lo), self.estimate(hi), n, q))
        return out

    def cdf(self) -> tuple[np.ndarray, np.ndarray]:
        """The exact share of positive samples at or below the largest sample of each bucket (x, y), from the
        smallest positive sample; for a CDF drawn on a log axis."""
        positive = self.lows > 0
        counts, highs = self.counts[positive], self.highs[positive]
        if not counts.size:
            return np.zeros(0), np.zeros(0)
        total = counts.sum()
        x = np.concatenate([[self.lows[positive][0]], highs])
        y = np.concatenate([[1.0 / total], np.cumsum(counts) / total])
        return x, y


@dataclass(frozen=True)
class Need:
    """The samples that hold one order statistic of a union of groups: those of its buckets in each group."""

    groups: tuple[object, ...]
    buckets: tuple[int, ...]


class OrderStatistics:
    """Order statistics of unions of groups, from the samples of the few buckets that hold them.

    `plan(groups, histogram, qs)` says which buckets to fetch; after `supply(samples)` (per group: bucket id
    and value arrays) `percentiles` answers exactly. Fetching for many unions at once shares one scan.
    """

    def __init__(self) -> None:
        self.wanted: dict[object, set[int]] = {}
        self._samples: Mapping[object, tuple[np.ndarray, np.ndarray]] = {}
        self._sorted: dict[Need, np.ndarray] = {}

    def plan(self, groups: Sequence[object], histogram: Histogram, qs: Sequence[float]) -> list[tuple[Need, int]]:
        """What to fetch for the exact percentiles `qs` of the union of `groups` (whose merged histogram is
        given): one (Need, rank within it) per order statistic, two per percentile."""
        n = histogram.count
        return self.plan_ranks(groups, histogram, [rank for q in qs for rank in ranks(n, q)])

    def plan_ranks(
        self, groups: Sequence[object], histogram: Histogram, wanted: Sequence[int]
    ) -> list[tuple[Need, int]]:
        """What to fetch for the order statistics of the given 0-based ranks; `value` then answers each."""
        out = []
        for rank in wanted:
            buckets, below = histogram.span(rank)
            for group in groups:
                self.wanted.setdefault(group, set()).update(buckets)
            out.append((Need(tuple(groups), buckets), rank - below))
        return out

    def supply(self, samples: Mapping[object, tuple[np.ndarray, np.ndarray]]) -> None:
        """The fetched samples: per group, (bucket ids, values) of every sample in its wanted buckets."""
        ordered = {}
        for group, (buckets, values) in samples.items():
            order = np.argsort(buckets, kind="stable")
            ordered[group] = (buckets[order], values[order])
        self._samples = ordered

    def value(self, need: Need, local_rank: int) -> float:
        if need not in self._sorted:  # both order statistics of a percentile usually share their buckets
            self._sorted[need] = np.sort(self._gather(need))
        return float(self._sorted[need][local_rank])

    def _gather(self, need: Need) -> np.ndarray:
        parts = []
        for group in need.groups:
            found = self._samples.get(group)
            if found is None:
                continue
            buckets, values = found
            # a group's buckets between the first and the last of `need` are all in it: slice, don't search
            first = np.searchsorted(buckets, need.buckets[0], side="left")
            parts.append(values[first : np.searchsorted(buckets, need.buckets[-1], side="right")])
        return np.concatenate(parts) if parts else np.zeros(0)

    def percentiles(self, plan: list[tuple[Need, int]], n: int, qs: Sequence[float]) -> list[float]:
        out = []
        for i, q in enumerate(qs):
            (need_lo, rank_lo), (need_hi, rank_hi) = plan[2 * i], plan[2 * i + 1]
            out.append(interpolate(self.value(need_lo, rank_lo), self.value(need_hi, rank_hi), n, q))
        return out
