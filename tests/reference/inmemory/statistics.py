"""Baseline-vs-phase comparison: is a phase's difference from the baseline real, and how large is it?

Availability: difference of proportions with a bootstrap 95% interval (parametric: binomial redraws of
both sides), Fisher's exact test on small samples and the chi-square test of the 2x2 table on large ones.
Latency: the Mann-Whitney U test (no normality assumed; latency is anything but normal) with Cliff's delta
as the effect size: P(phase > baseline) - P(phase < baseline), from -1 to 1, 0 meaning no shift; and the
differences of p50/p95/p99 with percentile-bootstrap 95% intervals. Large samples are subsampled and
every random draw is seeded, so two builds of one run give the same report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tests.reference.inmemory import metrics

FISHER_MAX_TOTAL = 10_000  # above this, the chi-square approximation is as good and much cheaper
MAX_LATENCY_SAMPLES = 200_000  # Mann-Whitney input per side
MAX_BOOTSTRAP_SAMPLES = 5_000  # per side and resample: the interval of a p99 barely moves past this
BOOTSTRAP_RESAMPLES = 400
BOOTSTRAP_PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
SEED = 0


def compare_with_baseline(baseline: pd.DataFrame, phase: pd.DataFrame) -> dict[str, Any]:
    """Both comparisons of a phase's operations with the baseline's (None inside when either is empty)."""
    return {
        "availability": availability_difference(baseline, phase),
        "latency": latency_shift(baseline, phase),
    }


def availability_difference(baseline: pd.DataFrame, phase: pd.DataFrame) -> dict[str, Any] | None:
    n1, n2 = len(baseline), len(phase)
    if not n1 or not n2:
        return None
    k1, k2 = metrics.ok_count(baseline), metrics.ok_count(phase)
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    if (table.sum(axis=0) == 0).any():  # nobody failed (or nobody succeeded) anywhere: nothing to test
        p_value, test = 1.0, "none"
    elif n1 + n2 <= FISHER_MAX_TOTAL:
        p_value, test = float(stats.fisher_exact(table).pvalue), "fisher_exact"
    else:
        p_value, test = float(stats.chi2_contingency(table).pvalue), "chi2"
    return {
        "difference": k2 / n2 - k1 / n1,
        "interval": proportion_difference_interval(k1, n1, k2, n2),
        "p_value": p_value,
        "test": test,
    }


def proportion_difference_interval(
    k1: int, n1: int, k2: int, n2: int, resamples: int = 4 * BOOTSTRAP_RESAMPLES, seed: int = SEED
) -> list[float]:
    """Bootstrap 95% interval of k2/n2 - k1/n1, each side redrawn as a binomial of its observed rate."""
    rng = np.random.default_rng(seed)
    diff = rng.binomial(n2, k2 / n2, resamples) / n2 - rng.binomial(n1, k1 / n1, resamples) / n1
    low, high = np.percentile(diff, [2.5, 97.5])
    return [float(low), float(high)]


def latency_shift(baseline: pd.DataFrame, phase: pd.DataFrame) -> dict[str, Any] | None:
    x, y = _samples(baseline, MAX_LATENCY_SAMPLES), _samples(phase, MAX_LATENCY_SAMPLES)
    if not x.size or not y.size:
        return None
    u, p_value = stats.mannwhitneyu(y, x, alternative="two-sided", method="asymptotic")
    p95_x, p95_y = np.percentile(x, 95), np.percentile(y, 95)
    return {
        "cliffs_delta": 2.0 * float(u) / (x.size * y.size) - 1.0,
        "p_value": float(p_value),
        "p95_ratio": float(p95_y / p95_x) if p95_x > 0 else None,
        "test": "mann_whitney_u",
        "percentile_differences_ms": percentile_differences(baseline, phase),
    }


def percentile_differences(baseline: pd.DataFrame, phase: pd.DataFrame) -> dict[str, dict[str, Any]] | None:
    """For p50/p95/p99: phase minus baseline in ms (from all samples) with a percentile-bootstrap 95%
    interval (from at most MAX_BOOTSTRAP_SAMPLES per side)."""
    x_all, y_all = _samples(baseline, None), _samples(phase, None)
    if not x_all.size or not y_all.size:
        return None
    qs = list(BOOTSTRAP_PERCENTILES.values())
    point = np.percentile(y_all, qs) - np.percentile(x_all, qs)
    boot = _bootstrap_percentiles(y_all, qs, SEED + 1) - _bootstrap_percentiles(x_all, qs, SEED)
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    return {
        name: {"difference": float(point[i]), "interval": [float(low[i]), float(high[i])]}
        for i, name in enumerate(BOOTSTRAP_PERCENTILES)
    }


def bootstrap_interval(values: np.ndarray, q: float, seed: int = SEED) -> list[float] | None:
    """Percentile-bootstrap 95% interval of the q-th percentile of raw samples."""
    values = values[~np.isnan(values)]
    if not values.size:
        return None
    boot = _bootstrap_percentiles(values, [q], seed)[:, 0]
    low, high = np.percentile(boot, [2.5, 97.5])
    return [float(low), float(high)]


def _bootstrap_percentiles(values: np.ndarray, qs: list[float], seed: int) -> np.ndarray:
    """(resamples x len(qs)) percentiles of resamples with replacement; one matrix op, no Python loop per
    sample. A large sample is resampled at MAX_BOOTSTRAP_SAMPLES: it then estimates the interval of a
    sample that size, so it errs wide, never narrow."""
    rng = np.random.default_rng(seed)
    size = min(values.size, MAX_BOOTSTRAP_SAMPLES)
    draws = values[rng.integers(0, values.size, size=(BOOTSTRAP_RESAMPLES, size))]
    return np.percentile(draws, qs, axis=1).T


def _samples(frame: pd.DataFrame, limit: int | None) -> np.ndarray:
    values = frame["latency_ms"].dropna().to_numpy(dtype=float)
    if limit is not None and values.size > limit:
        values = np.random.default_rng(SEED).choice(values, limit, replace=False)
    return values
