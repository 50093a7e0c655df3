"""Every metric of the harness, defined once: small functions over a frame of attempt or operation records.

Conventions, so that callers never have to guess:
- A metric of nothing is None, never 0 (an empty frame has no availability and no p99).
- Latency percentiles come from the raw `latency_ms` samples with numpy's default (linear) interpolation.
- "ok" is the only successful outcome; everything else counts against availability.
- Open-loop operations (those with an `intended_ts`) already carry the coordinated-omission corrected
  latency in `latency_ms` (the client adds the wait from `intended_ts` to `ts`); the closed-loop (service)
  latency of such an operation is that minus the wait. Closed-loop operations have one latency: both.
- Time series use 1-second windows: window k holds the records with `t0 + k <= ts < t0 + k + 1`, computed
  with one vectorised groupby on `floor(ts - t0)`; no Python loop touches a record.

Recovery (time to detect / time to recover) compares each window of operations with the baseline phase:
a window is *within tolerance* when its availability is at least the baseline's minus
`AVAILABILITY_DROP_TOLERANCE` and its p95 latency at most `max(P95_FACTOR x baseline p95, baseline p95 +
P95_SLACK_MS)`. A window with no operation is no evidence either way and is skipped. Time to recover is
watched over a window of its own (`harness.analysis.recovery.recovery_window`): from the fault's removal to
the next fault taking effect or the end of the next phase; a window shorter than MIN_RECOVERY_WINDOW_S
gives no time to recover at all (None, with the reason), never a number that belongs to the next fault.

Uncertainty, each method named in METHODS: shares (availability, error rate) get the Wilson score interval,
which stays meaningful at 0% and 100%; latency percentiles a distribution-free interval from order
statistics (no bootstrap: it is unreliable for tail percentiles of small samples); attempts per operation
a Student t interval of the mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

OK = "ok"
SECURITY_VIOLATION = "security_violation"
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
CONFIDENCE = 0.95

# Recovery tolerance against the baseline (see the module docstring). Absolute 5 points of availability:
# a relative bound would be meaningless near 100%. Latency gets a factor and an absolute slack, so that a
# 4 ms baseline does not call 9 ms an incident.
AVAILABILITY_DROP_TOLERANCE = 0.05
P95_FACTOR = 2.0
P95_SLACK_MS = 50.0
MIN_RECOVERY_WINDOW_S = 1.0  # one whole 1-second window: less than that cannot show a recovery

# How each interval and test of the reports is computed, by the name summary.json gives it.
METHODS: dict[str, str] = {
    "wilson": "Wilson score interval, 95% (scipy.stats.binomtest): meaningful at 0% and 100%",
    "order_statistic": "distribution-free 95% interval of a percentile from order statistics (binomial ranks)",
    "student_t": "Student t 95% interval of a mean",
}


# --- proportions ----------------------------------------------------------------------------------


def wilson_interval(successes: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion; None for zero trials."""
    if total <= 0:
        return None
    ci = stats.binomtest(int(successes), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def ok_count(frame: pd.DataFrame) -> int:
    return int((frame["outcome"] == OK).sum())


def availability(frame: pd.DataFrame) -> float | None:
    """Share of records whose outcome is ok (attempt or operation scope, by the frame given)."""
    if frame.empty:
        return None
    return ok_count(frame) / len(frame)


def availability_interval(frame: pd.DataFrame, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    return wilson_interval(ok_count(frame), len(frame), confidence)


def share_interval(successes: int, total: int) -> tuple[float, float] | None:
    """The interval every share of the reports gets (METHODS["wilson"])."""
    return wilson_interval(successes, total)


def error_rate(frame: pd.DataFrame) -> float | None:
    value = availability(frame)
    return None if value is None else 1.0 - value


def error_rate_interval(frame: pd.DataFrame, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    ci = availability_interval(frame, confidence)
    return None if ci is None else (1.0 - ci[1], 1.0 - ci[0])


def outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Error breakdown: records per outcome, ok included."""
    counts = frame["outcome"].value_counts(sort=False)
    return {str(k): int(v) for k, v in sorted(counts.items()) if v}  # a categorical lists absent outcomes too


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Error breakdown by HTTP status (0: no response), as strings so that the keys survive JSON."""
    counts = frame["status"].value_counts(sort=False)
    return {str(int(k)): int(v) for k, v in sorted(counts.items()) if v}


def unauthorized_accepted(attempts: pd.DataFrame) -> int:
    """Attempts the client flagged as a security violation: a bad token the server let through."""
    return int((attempts["outcome"] == SECURITY_VIOLATION).sum())


def give_up_rate(operations: pd.DataFrame, retry_on: Iterable[str] | None = None) -> float | None:
    """Share of operations that ended not ok. With `retry_on`, only those whose final outcome was retryable
    count: the client gave up retrying, rather than meeting an error it was never meant to retry."""
    if operations.empty:
        return None
    failed = operations["outcome"] != OK
    if retry_on is not None:
        failed &= operations["outcome"].isin(list(retry_on))
    return int(failed.sum()) / len(operations)


# --- latency ----------------------------------------------------------------------------------------


def latency_percentile(frame: pd.DataFrame, q: float) -> float | None:
    """The q-th percentile (0..100) of raw latency samples in ms."""
    values = frame["latency_ms"].dropna().to_numpy(dtype=float)
    return float(np.percentile(values, q)) if values.size else None


def percentile_interval(
    frame: pd.DataFrame, q: float, confidence: float = CONFIDENCE
) -> tuple[float | None, float | None] | None:
    """Distribution-free interval of the q-th percentile (0..100) of raw latency samples: the order
    statistics whose ranks bracket q% of the sample with probability `confidence` (binomial). A bound the
    sample is too small to give is None (the upper bound of a p99 needs several hundred samples); None
    for no sample. Exact for any distribution, unlike a bootstrap of a tail percentile."""
    values = np.sort(frame["latency_ms"].dropna().to_numpy(dtype=float))
    n = values.size
    if not n:
        return None
    p, alpha = min(max(q / 100.0, 0.0), 1.0), (1.0 - confidence) / 2.0
    # P(X_(r) <= true quantile) = P(Binomial(n, p) >= r): the lower bound is the largest r with that
    # probability >= 1 - alpha, the upper bound the smallest s with P(Binomial(n, p) < s) >= 1 - alpha
    low_rank = int(stats.binom.ppf(alpha, n, p))  # X_(low_rank) with 1-based ranks; 0: no lower bound
    high_rank = int(stats.binom.ppf(1.0 - alpha, n, p)) + 1
    low = float(values[low_rank - 1]) if low_rank >= 1 else None
    high = float(values[high_rank - 1]) if high_rank <= n else None
    return low, high


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student t interval of a mean (METHODS["student_t"]); None below two values or with no spread at
    all (every value equal: the sample says nothing about the spread, and a zero-width interval would
    claim certainty)."""
    values = values[~np.isnan(values)]
    if values.size < 2:
        return None
    sd = float(values.std(ddof=1))
    if sd == 0.0:
        return None
    half = float(stats.t.ppf(0.5 + confidence / 2.0, values.size - 1)) * sd / float(np.sqrt(values.size))
    mean = float(values.mean())
    return mean - half, mean + half


def latency_percentiles(frame: pd.DataFrame) -> dict[str, float | None]:
    """p50, p90, p95, p99, p99.9 and max of raw latency samples in ms (all None for no sample)."""
    return percentiles_of(frame["latency_ms"].to_numpy(dtype=float))


def percentiles_of(values: np.ndarray) -> dict[str, float | None]:
    values = values[~np.isnan(values)]
    if not values.size:
        return dict.fromkeys(PERCENTILES)
    found = np.percentile(values, list(PERCENTILES.values()))
    return {name: float(v) for name, v in zip(PERCENTILES, found, strict=True)}


def open_loop_wait_ms(operations: pd.DataFrame) -> np.ndarray:
    """Per operation, how late it started against its intended start (0 for closed-loop operations)."""
    if "intended_ts" not in operations.columns:
        return np.zeros(len(operations))
    wait = (operations["ts"].to_numpy(dtype=float) - operations["intended_ts"].to_numpy(dtype=float)) * 1000.0
    return np.where(np.isnan(wait), 0.0, np.maximum(wait, 0.0))


def has_open_loop(operations: pd.DataFrame) -> bool:
    return "intended_ts" in operations.columns and bool(operations["intended_ts"].notna().any())


def closed_and_open_loop_latency(operations: pd.DataFrame) -> dict[str, dict[str, float | None] | None]:
    """Percentiles of the service (closed-loop) latency, and of the corrected (open-loop) one when any
    operation was open-loop (None otherwise)."""
    recorded = operations["latency_ms"].to_numpy(dtype=float)
    if not has_open_loop(operations):
        return {"closed_loop": percentiles_of(recorded), "open_loop": None}
    open_rows = operations["intended_ts"].notna().to_numpy()
    return {
        "closed_loop": percentiles_of(recorded - open_loop_wait_ms(operations)),
        "open_loop": percentiles_of(recorded[open_rows]),
    }


# --- load and retries -------------------------------------------------------------------------------


def attempts_per_operation_interval(operations: pd.DataFrame) -> tuple[float, float] | None:
    return mean_interval(operations["attempts"].to_numpy(dtype=float))


def attempts_per_operation(operations: pd.DataFrame) -> float | None:
    """Retry amplification: the mean of `operations.attempts`.

    Taken from the operation records rather than counting attempt rows, so that an operation whose
    retries cross a phase boundary still counts wholly in the phase where the user started it, and a
    lost attempt shard cannot skew it.
    """
    if operations.empty:
        return None
    return float(operations["attempts"].mean())


def backoff_share(operations: pd.DataFrame) -> float | None:
    """Share of the users' waiting time spent sleeping between retries: sum(backoff) / sum(latency)."""
    if operations.empty or "backoff_ms" not in operations.columns:
        return None
    total = float(operations["latency_ms"].sum())
    return float(operations["backoff_ms"].fillna(0.0).sum()) / total if total > 0 else None


def error_budget(frame: pd.DataFrame, target: float) -> dict[str, float | int | None]:
    """Error budget of an availability objective `target` over a frame: the failures it allows
    ((1 - target) x total), the failures seen, and the share of the budget they burned (1.0: all of it;
    None when the objective allows no failure at all)."""
    total, ok = len(frame), ok_count(frame)
    allowed = (1.0 - target) * total
    failed = total - ok
    burned = failed / allowed if allowed > 0 else (0.0 if failed == 0 and total else None)
    return {"total": total, "failed": failed, "allowed_failures": allowed, "burned": burned}


def throughput_ops(operations: pd.DataFrame, duration_s: float | None) -> float | None:
    """Operations per second over a duration (a phase's, or the sum of several)."""
    if not duration_s or duration_s <= 0:
        return None
    return len(operations) / duration_s


# --- time series (1-second windows) ----------------------------------------------------------------


def window_index(ts: pd.Series, t0: float) -> pd.Series:
    """The 1-second window of each timestamp, counted from t0."""
    return np.floor(ts.to_numpy(dtype=float) - t0).astype(np.int64)


def availability_series(frame: pd.DataFrame, t0: float) -> pd.Series:
    """Availability per window (only windows with records)."""
    ok = (frame["outcome"] == OK).to_numpy()
    return pd.Series(ok, dtype=float).groupby(window_index(frame["ts"], t0)).mean().rename("availability")


def latency_series(frame: pd.DataFrame, t0: float, names: Iterable[str] = ("p50", "p95", "p99")) -> pd.DataFrame:
    """Latency percentiles (ms) per window, one column per name in PERCENTILES."""
    names = list(names)
    if frame.empty:
        return pd.DataFrame(columns=names, dtype=float)
    latency = pd.Series(frame["latency_ms"].to_numpy(dtype=float))
    grouped = latency.groupby(window_index(frame["ts"], t0))
    table = grouped.quantile([PERCENTILES[n] / 100.0 for n in names]).unstack()
    table.columns = names
    return table


def count_series(frame: pd.DataFrame, t0: float, length: int | None = None) -> pd.Series:
    """Records per window; with `length`, windows 0..length-1 with zeros where nothing happened."""
    counts = pd.Series(1, index=window_index(frame["ts"], t0)).groupby(level=0).sum()
    if length is not None:
        counts = counts.reindex(range(max(length, 0)), fill_value=0)
    return counts.astype(np.int64).rename("count")


def throughput_series(operations: pd.DataFrame, t0: float, length: int | None = None) -> pd.Series:
    """Operations started per second, per window."""
    return count_series(operations, t0, length).astype(float).rename("throughput_ops")


def outcome_series(frame: pd.DataFrame, t0: float, length: int | None = None) -> pd.DataFrame:
    """Records per window and outcome (one column per outcome seen, ok first), zeros where none."""
    if frame.empty:
        return pd.DataFrame(dtype=np.int64)
    outcome = frame["outcome"].astype(str).to_numpy()
    table = pd.crosstab(window_index(frame["ts"], t0), outcome)
    if length is not None:
        table = table.reindex(range(max(length, int(table.index.max()) + 1)), fill_value=0)
    columns = sorted(table.columns, key=lambda c: (c != OK, c))
    return table[columns]


def attempts_per_operation_series(operations: pd.DataFrame, t0: float) -> pd.Series:
    attempts = pd.Series(operations["attempts"].to_numpy(dtype=float))
    return attempts.groupby(window_index(operations["ts"], t0)).mean().rename("attempts_per_operation")


# --- recovery ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """What normal looks like, from the baseline phase's operations."""

    availability: float
    p95_ms: float

    @property
    def availability_floor(self) -> float:
        return self.availability - AVAILABILITY_DROP_TOLERANCE

    @property
    def p95_ceiling_ms(self) -> float:
        return max(P95_FACTOR * self.p95_ms, self.p95_ms + P95_SLACK_MS)

    @classmethod
    def of(cls, operations: pd.DataFrame) -> Baseline | None:
        value, p95 = availability(operations), latency_percentile(operations, 95.0)
        if value is None or p95 is None:
            return None
        return cls(value, p95)


@dataclass(frozen=True)
class Recovery:
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    recovered: bool | None  # None: not measured (no baseline, or no window to watch; `note` says which)
    window: tuple[float, float] | None = None  # what was watched for the recovery: removal .. horizon
    note: str | None = None  # why there is no time to recover


def window_health(operations: pd.DataFrame, t0: float, baseline: Baseline) -> pd.DataFrame:
    """Per window with operations: availability, p95_ms and whether both are within tolerance."""
    table = pd.concat(
        [
            availability_series(operations, t0),
            latency_series(operations, t0, ["p95"]).rename(columns={"p95": "p95_ms"}),
        ],
        axis=1,
    ).sort_index()
    table["healthy"] = (table["availability"] >= baseline.availability_floor) & (
        table["p95_ms"] <= baseline.p95_ceiling_ms
    )
    return table


def time_to_detect_s(health: pd.DataFrame, t0: float, start: float, end: float) -> float | None:
    """From the fault taking effect (`start`) to the first window before `end` out of tolerance."""
    windows = health.loc[_first_window(start, t0) : _last_window(end, t0)]
    bad = windows.index[~windows["healthy"].to_numpy(dtype=bool)]
    if not len(bad):
        return None
    return max(0.0, t0 + float(bad[0]) - start)


def time_to_recover_s(health: pd.DataFrame, t0: float, removed: float, horizon_end: float) -> tuple[float, bool]:
    """From the fault's removal to the first window from which every later window up to `horizon_end` is
    within tolerance. Never recovered: the time to `horizon_end`, and False."""
    windows = health.loc[_first_window(removed, t0) : _last_window(horizon_end, t0)]
    healthy = windows["healthy"].to_numpy(dtype=bool)
    if not healthy.size:
        return max(0.0, horizon_end - removed), False
    bad = np.flatnonzero(~healthy)
    first_good = 0 if not bad.size else int(bad[-1]) + 1
    if first_good >= healthy.size:
        return max(0.0, horizon_end - removed), False
    return max(0.0, t0 + float(windows.index[first_good]) - removed), True


def recovery(
    health: pd.DataFrame | None, t0: float, start: float, end: float, horizon_end: float, why_short: str = ""
) -> Recovery:
    """Detect and recover times of one fault in effect from `start` to `end`, its recovery watched until
    `horizon_end`; a horizon under MIN_RECOVERY_WINDOW_S gives no time to recover (`why_short` says why)."""
    if health is None:
        return Recovery(None, None, None, note="no baseline operations to compare with")
    detect = time_to_detect_s(health, t0, start, end)
    horizon_end = max(end, horizon_end)
    if horizon_end - end < MIN_RECOVERY_WINDOW_S:
        note = f"not measurable: {why_short or 'nothing was observed after its removal'}"
        return Recovery(detect, None, None, (end, horizon_end), note)
    ttr, recovered = time_to_recover_s(health, t0, end, horizon_end)
    return Recovery(detect, ttr, recovered, (end, horizon_end))


def _first_window(t: float, t0: float) -> int:
    """The window holding `t` (it counts: part of it lies after `t`)."""
    return int(np.floor(t - t0))


def _last_window(t: float, t0: float) -> int:
    """The last window starting before `t`."""
    return int(np.ceil(t - t0)) - 1
