"""Baseline-vs-phase comparison: is a phase's difference from the baseline real, and how large is it?

Availability: difference of proportions, with Fisher's exact test on small samples and the chi-square
test of the 2x2 table on large ones. Latency: the Mann-Whitney U test (no normality assumed; latency is
anything but normal) with Cliff's delta as the effect size: P(phase > baseline) - P(phase < baseline),
from -1 to 1, 0 meaning no shift. Large phases are subsampled (seeded, so reports are reproducible).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.analysis import metrics

FISHER_MAX_TOTAL = 10_000  # above this, the chi-square approximation is as good and much cheaper
MAX_LATENCY_SAMPLES = 200_000
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
    return {"difference": k2 / n2 - k1 / n1, "p_value": p_value, "test": test}


def latency_shift(baseline: pd.DataFrame, phase: pd.DataFrame) -> dict[str, Any] | None:
    x, y = _samples(baseline), _samples(phase)
    if not x.size or not y.size:
        return None
    u, p_value = stats.mannwhitneyu(y, x, alternative="two-sided", method="asymptotic")
    p95_x, p95_y = np.percentile(x, 95), np.percentile(y, 95)
    return {
        "cliffs_delta": 2.0 * float(u) / (x.size * y.size) - 1.0,
        "p_value": float(p_value),
        "p95_ratio": float(p95_y / p95_x) if p95_x > 0 else None,
        "test": "mann_whitney_u",
    }


def _samples(frame: pd.DataFrame) -> np.ndarray:
    values = frame["latency_ms"].dropna().to_numpy(dtype=float)
    if values.size > MAX_LATENCY_SAMPLES:
        values = np.random.default_rng(SEED).choice(values, MAX_LATENCY_SAMPLES, replace=False)
    return values
