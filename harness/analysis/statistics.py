"""Baseline-vs-phase comparison: is a phase's difference from the baseline real, and how large is it?

Availability: difference of proportions with Newcombe's hybrid score interval (built from the two Wilson
intervals, so it stays meaningful when one side or both had no failure at all; a bootstrap there would
redraw zero failures every time and claim [0, 0]), Fisher's exact test on small samples and the
chi-square test of the 2x2 table on large ones.
Latency: the Mann-Whitney U test (no normality assumed; latency is anything but normal) with Cliff's delta
as the effect size: P(phase > baseline) - P(phase < baseline), from -1 to 1, 0 meaning no shift; and the
differences of p50/p95/p99 with percentile-bootstrap 95% intervals, given only where the bootstrap is
valid: at least MIN_TAIL_SAMPLES samples beyond the percentile on each side (a bootstrap of a p99 from 200
samples redraws the same two values). METHODS names each method, as the reports show it.

The latency tests never see all rows: each side is a seeded sample of at most MAX_LATENCY_SAMPLES latencies
drawn by position in record order (`sample_positions`; all of them, in order, for a smaller phase), fetched
by harness.analysis.aggregate. The Mann-Whitney test runs on the samples; the bootstrap resamples
(BOOTSTRAP_RESAMPLES of at most MAX_BOOTSTRAP_SAMPLES each) are drawn from them. The percentile
differences themselves, and the sample counts that decide whether a bootstrap is valid, are those of all
samples (exact). Every draw is seeded, so two builds of one run give the same report.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from harness.analysis import metrics
from harness.analysis.metrics import TallyOrFrame, tally

FISHER_MAX_TOTAL = 10_000  # above this, the chi-square approximation is as good and much cheaper
MAX_LATENCY_SAMPLES = 200_000  # the seeded sample per side: Mann-Whitney input, bootstrap population
MAX_BOOTSTRAP_SAMPLES = 5_000  # per side and resample: the interval of a p99 barely moves past this
BOOTSTRAP_RESAMPLES = 400
BOOTSTRAP_PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
MIN_TAIL_SAMPLES = 10  # per side, beyond the percentile, for a bootstrap interval of it
SEED = 0

METHODS: dict[str, str] = {
    "newcombe": "Newcombe hybrid score interval of a difference of two shares, 95% (from the Wilson intervals)",
    "fisher_exact": "Fisher's exact test of the 2x2 table (two-sided)",
    "chi2": "chi-square test of the 2x2 table (more than 10,000 records)",
    "none": "no test: no failure (or no success) on either side",
    "mann_whitney_u": "Mann-Whitney U test (two-sided), effect size Cliff's delta",
    "bootstrap": f"percentile bootstrap, {BOOTSTRAP_RESAMPLES} seeded resamples, 95%; only with "
    f"{MIN_TAIL_SAMPLES}+ samples beyond the percentile on each side",
}


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
        "interval_method": "newcombe",
        "p_value": p_value,
        "test": test,
    }


def proportion_difference_interval(k1: int, n1: int, k2: int, n2: int) -> list[float]:
    """95% interval of k2/n2 - k1/n1: Newcombe's hybrid score interval (method 10 of Newcombe 1998), the
    square-and-add of both sides' Wilson intervals. scipy has no function for it; its Wilson intervals are
    the whole of the work."""
    p1, p2 = k1 / n1, k2 / n2
    w1, w2 = metrics.share_interval(k1, n1), metrics.share_interval(k2, n2)
    assert w1 is not None and w2 is not None
    (l1, u1), (l2, u2) = w1, w2
    d = p2 - p1
    low = d - float(np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2))
    high = d + float(np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2))
    return [max(-1.0, low), min(1.0, high)]


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
    interval (resamples of at most MAX_BOOTSTRAP_SAMPLES from each side's seeded sample) where it is valid
    (`bootstrap_valid`, on all samples); elsewhere the interval is None and `interval_note` says why."""
    baseline, phase = _sampled(baseline), _sampled(phase)
    x, y = _sample(baseline), _sample(phase)
    if not x.size or not y.size:
        return None
    qs = list(BOOTSTRAP_PERCENTILES.values())
    point = np.array([_percentile(phase, q) for q in qs]) - np.array([_percentile(baseline, q) for q in qs])
    boot = _bootstrap_percentiles(y, qs, SEED + 1) - _baseline_bootstrap(x, qs)
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    out: dict[str, dict[str, Any]] = {}
    for i, (name, q) in enumerate(BOOTSTRAP_PERCENTILES.items()):
        valid = bootstrap_valid(baseline.latency.count, q) and bootstrap_valid(phase.latency.count, q)
        out[name] = {
            "difference": float(point[i]),
            "interval": [float(low[i]), float(high[i])] if valid else None,
            "interval_method": "bootstrap" if valid else None,
            "interval_note": None
            if valid
            else f"too few samples for an interval: fewer than {MIN_TAIL_SAMPLES} beyond the {name} on a side",
        }
    return out


def bootstrap_valid(n: int, q: float) -> bool:
    """Whether a bootstrap of the q-th percentile of n samples can be trusted: enough of them lie beyond it."""
    return n * (1.0 - q / 100.0) >= MIN_TAIL_SAMPLES


def _bootstrap_percentiles(values: np.ndarray, qs: list[float], seed: int) -> np.ndarray:
    """(resamples x len(qs)) percentiles of resamples with replacement; one matrix op, no Python loop per
    sample. A large sample is resampled at MAX_BOOTSTRAP_SAMPLES: it then estimates the interval of a
    sample that size, so it errs wide, never narrow."""
    rng = np.random.default_rng(seed)
    size = min(values.size, MAX_BOOTSTRAP_SAMPLES)
    draws = values[rng.integers(0, values.size, size=(BOOTSTRAP_RESAMPLES, size))]
    # Sorted first: a percentile depends only on the values of its row, not their order, and numpy's
    # partition around the six ranks of three linear percentiles takes longer than sorting each row
    # (measured, 400 x 5,000: 33 ms as drawn, 14 + 6.5 ms sorted). The same numbers to the bit.
    draws.sort(axis=1)
    percentiles: np.ndarray = np.percentile(draws, qs, axis=1).T
    return percentiles


# The baseline's resamples, by its sample array: every phase of a run is compared with the same baseline
# (the same Tally, so the same array), and its bootstrap is a third of a comparison's cost. An entry goes
# with its array (weakref.finalize), so an id is never reused while it is in here.
_BASELINE_BOOTSTRAPS: dict[tuple[int, tuple[float, ...]], np.ndarray] = {}


def _baseline_bootstrap(values: np.ndarray, qs: list[float]) -> np.ndarray:
    key = (id(values), tuple(qs))
    found = _BASELINE_BOOTSTRAPS.get(key)
    if found is None:
        found = _BASELINE_BOOTSTRAPS[key] = _bootstrap_percentiles(values, qs, SEED)
        found.flags.writeable = False
        weakref.finalize(values, _BASELINE_BOOTSTRAPS.pop, key, None)
    return found


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
