"""Baseline-vs-phase comparison: is a phase's difference from the baseline real, and how large is it?

Availability: difference of proportions with a bootstrap 95% interval (parametric: binomial redraws of
both sides), Fisher's exact test on small samples and the chi-square test of the 2x2 table on large ones.
Latency: the Mann-Whitney U test (no normality assumed; latency is anything but normal) with Cliff's delta
as the effect size: P(phase > baseline) - P(phase < baseline), from -1 to 1, 0 meaning no shift; and the
differences of p50/p95/p99 with percentile-bootstrap 95% intervals.

The latency tests never see all rows: each side is a seeded sample of at most MAX_LATENCY_SAMPLES latencies
drawn by position in record order (`sample_positions`; all of them, in order, for a smaller phase), fetched
by harness.analysis.aggregate. The Mann-Whitney test runs on the samples; the bootstrap resamples
(BOOTSTRAP_RESAMPLES of at most MAX_BOOTSTRAP_SAMPLES each) are drawn from them. The percentile
differences themselves are those of all samples (exact). Every draw is seeded, so two builds of one run
give the same report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis import metrics
from harness.analysis.metrics import TallyOrFrame, tally

FISHER_MAX_TOTAL = 10_000  # above this, the chi-square approximation is as good and much cheaper
MAX_LATENCY_SAMPLES = 200_000  # the seeded sample per side: Mann-Whitney input, bootstrap population
MAX_BOOTSTRAP_SAMPLES = 5_000  # per side and resample: the interval of a p99 barely moves past this
BOOTSTRAP_RESAMPLES = 400
BOOTSTRAP_PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
SEED = 0


def sample_positions(n: int) -> np.ndarray | None:
    """Which of n latencies (0-based positions in record order) form the seeded sample; None: all of them."""
    if n <= MAX_LATENCY_SAMPLES:
        return None
    return np.random.default_rng(SEED).choice(n, MAX_LATENCY_SAMPLES, replace=False)


def compare_with_baseline(baseline: TallyOrFrame, phase: TallyOrFrame) -> dict[str, Any]:
    """Both comparisons of a phase's operations with the baseline's (None inside when either is empty)."""
    return {
        "availability": availability_difference(baseline, phase),
        "latency": latency_shift(baseline, phase),
    }


def availability_difference(baseline: TallyOrFrame, phase: TallyOrFrame) -> dict[str, Any] | None:
    baseline, phase = tally(baseline), tally(phase)
    n1, n2 = baseline.count, phase.count
    if not n1 or not n2:
        return None
    k1, k2 = metrics.ok_count(baseline), metrics.ok_count(phase)
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    if (table.sum(axis=0) == 0).any():  # nobody failed (or nobody succeeded) anywhere: nothing to test
        p_value, test = 1.0, "none"
    else:
        from scipy import stats  # imported when first used (see metrics.wilson_interval)

        if n1 + n2 <= FISHER_MAX_TOTAL:
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


def latency_shift(baseline: TallyOrFrame, phase: TallyOrFrame) -> dict[str, Any] | None:
    baseline, phase = _sampled(baseline), _sampled(phase)
    x, y = _sample(baseline), _sample(phase)
    if not x.size or not y.size:
        return None
    from scipy import stats

    u, p_value = stats.mannwhitneyu(y, x, alternative="two-sided", method="asymptotic")
    p95_x, p95_y = np.percentile(x, 95), np.percentile(y, 95)
    return {
        "cliffs_delta": 2.0 * float(u) / (x.size * y.size) - 1.0,
        "p_value": float(p_value),
        "p95_ratio": float(p95_y / p95_x) if p95_x > 0 else None,
        "test": "mann_whitney_u",
        "samples": [int(x.size), int(y.size)],
        "percentile_differences_ms": percentile_differences(baseline, phase),
    }


def percentile_differences(baseline: TallyOrFrame, phase: TallyOrFrame) -> dict[str, dict[str, Any]] | None:
    """For p50/p95/p99: phase minus baseline in ms (from all samples, exact) with a percentile-bootstrap 95%
    interval (resamples of at most MAX_BOOTSTRAP_SAMPLES from each side's seeded sample)."""
    baseline, phase = _sampled(baseline), _sampled(phase)
    x, y = _sample(baseline), _sample(phase)
    if not x.size or not y.size:
        return None
    qs = list(BOOTSTRAP_PERCENTILES.values())
    point = np.array([_percentile(phase, q) for q in qs]) - np.array([_percentile(baseline, q) for q in qs])
    boot = _bootstrap_percentiles(y, qs, SEED + 1) - _bootstrap_percentiles(x, qs, SEED)
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


def _sampled(records: TallyOrFrame) -> metrics.Tally:
    return records if isinstance(records, metrics.Tally) else metrics.Tally.of(records, sample=True)


def _sample(t: metrics.Tally) -> np.ndarray:
    if t.sample is None:
        raise ValueError("a latency comparison needs the tally's seeded sample (aggregate: sample=True)")
    return t.sample


def _percentile(t: metrics.Tally, q: float) -> float:
    found = metrics.latency_percentile(t, q)
    assert found is not None
    return found
