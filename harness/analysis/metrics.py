"""Every metric of the harness, defined once: small functions over a `Tally`, one slice of records reduced
to its counts, sums, latency percentiles and (for the statistics) a seeded latency sample.

A run's tallies come from `harness.analysis.aggregate`, which scans the Parquet records out of core; a
pandas frame of records (the live view's last seconds, a test's few rows) becomes one with `Tally.of`, and
every metric function takes either, so the stop conditions, the report and a notebook cannot disagree.

Conventions, so that callers never have to guess:
- A metric of nothing is None, never 0 (an empty slice has no availability and no p99).
- Latency percentiles are those of the raw `latency_ms` samples by numpy's default (linear) interpolation,
  exact (harness.analysis.quantiles); a group past EXACT_MAX_SAMPLES samples gets them from the log-bucket
  histogram, within SKETCH_RELATIVE_ERROR, and its `Latency.exact` says so.
- "ok" is the only successful outcome; everything else (a missing outcome too) counts against availability.
- Open-loop operations (those with an `intended_ts`) already carry the coordinated-omission corrected
  latency in `latency_ms` (the client adds the wait from `intended_ts` to `ts`); the closed-loop (service)
  latency of such an operation is that minus the wait. Closed-loop operations have one latency: both.
- Time series use 1-second windows: window k holds the records with `t0 + k <= ts < t0 + k + 1`, i.e.
  `floor(ts - t0)`. A per-second table (`per_second`, or the aggregate's SQL) has one row per window with
  records and the columns `count`, `ok`, `attempts_sum`, `attempts_count`, `outcome:<name>` and, for
  operations, `p50`, `p95`, `p99` of their latency.

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

Size: every metric definition of the harness, with the Tally they all read, in one module: one number, one
source (splitting it would put half the definitions one import away from the other half).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from harness.analysis.quantiles import percentiles_of_sorted

OK = "ok"
SECURITY_VIOLATION = "security_violation"
PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
INTERVAL_PERCENTILES = {name: q for name, q in PERCENTILES.items() if q < 100.0}  # the max has no interval
SERIES_PERCENTILES = ("p50", "p95", "p99")
CONFIDENCE = 0.95
OUTCOME_COLUMN = "outcome:"

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

# What an SLO with `in_flight_at_end: exclude` leaves out (harness.analysis.aggregate, Slice.exclude_in_flight);
# the report's Methods section states it once.
IN_FLIGHT_DEFINITION = (
    "Records in flight at the end of a phase: a record (attempt or operation) belongs to the phase it began "
    "in. An SLO with in_flight_at_end: exclude leaves out the records whose end (start + latency) is after "
    "the end of the phase they began in, as the journal gives it (they met the next phase's conditions), and "
    "says how many; a phase with no end yet (still running) has none left out. By default (count) they count."
)


# --- what a slice of records is reduced to ----------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """The PERCENTILES of one set of latency samples (all None when there is none)."""

    count: int  # samples (records with a latency)
    percentiles: Mapping[str, float | None]
    exact: bool = True  # False: from the histogram, within SKETCH_RELATIVE_ERROR
    # (low, high) of each percentile but the max (`percentile_interval`); given for record latencies only
    intervals: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, values: np.ndarray, *, intervals: bool = False) -> Latency:
        values = np.sort(values[~np.isnan(values)])
        if not values.size:
            return cls(0, dict.fromkeys(PERCENTILES))
        found = percentiles_of_sorted(values, list(PERCENTILES.values()))
        ranks = interval_ranks([values.size])[0] if intervals else {}
        bounds = {name: (_at(values, low), _at(values, high)) for name, (low, high) in ranks.items()}
        return cls(int(values.size), dict(zip(PERCENTILES, found, strict=True)), intervals=bounds)


NO_LATENCY = Latency(0, dict.fromkeys(PERCENTILES))


def _at(values: np.ndarray, rank: int | None) -> float | None:
    return None if rank is None else float(values[rank])


@dataclass(frozen=True)
class Tally:
    """One slice of attempt or operation records, reduced to what every metric below needs."""

    count: int
    outcomes: Mapping[str, int]  # records per outcome (a missing outcome is in `count` only)
    statuses: Mapping[int, int]  # records per HTTP status (0: no response)
    latency: Latency = NO_LATENCY
    # operations only
    attempts_sum: int = 0
    attempts_count: int = 0  # operations with a known number of attempts
    attempts_squares: int = 0  # sum of squared attempts, for the interval of their mean
    backoff_sum_ms: float = 0.0
    latency_sum_ms: float = 0.0
    open_loop: int = 0  # operations with an intended start (open-loop arrivals)
    closed_loop_latency: Latency = NO_LATENCY  # latency less the open-loop wait
    open_loop_latency: Latency = NO_LATENCY  # latency of the open-loop operations
    sample: np.ndarray | None = field(default=None, compare=False)  # statistics.latency_sample, record order

    @classmethod
    def of(cls, frame: pd.DataFrame, *, sample: bool = False) -> Tally:
        """A frame of records in record order; every column is optional but `outcome`. Operation columns
        (`attempts`, `backoff_ms`, `intended_ts`) fill the operation fields when present."""
        latency = frame["latency_ms"].to_numpy(dtype=float) if "latency_ms" in frame.columns else np.zeros(0)
        found: dict[str, Any] = {
            "count": len(frame),
            "outcomes": _value_counts(frame, "outcome", str),
            "statuses": _value_counts(frame, "status", int),
            "latency": Latency.of(latency, intervals=True),
        }
        if "attempts" in frame.columns:
            attempts = frame["attempts"].dropna()
            open_rows = frame["intended_ts"].notna().to_numpy() if "intended_ts" in frame.columns else None
            found |= {
                "attempts_sum": int(attempts.sum()),
                "attempts_count": len(attempts),
                "attempts_squares": int((attempts.astype("int64") ** 2).sum()),
                "backoff_sum_ms": float(frame["backoff_ms"].fillna(0.0).sum()) if "backoff_ms" in frame else 0.0,
                "latency_sum_ms": float(np.nansum(latency)),
                "open_loop": 0 if open_rows is None else int(open_rows.sum()),
                "closed_loop_latency": Latency.of(latency - open_loop_wait_ms(frame)),
                "open_loop_latency": NO_LATENCY if open_rows is None else Latency.of(latency[open_rows]),
            }
        if sample:
            from harness.analysis.statistics import sample_positions

            values = latency[~np.isnan(latency)]
            positions = sample_positions(values.size)
            found["sample"] = values if positions is None else values[positions]
        return cls(**found)


TallyOrFrame: TypeAlias = Tally | pd.DataFrame


def tally(records: TallyOrFrame) -> Tally:
    return records if isinstance(records, Tally) else Tally.of(records)


def _value_counts(frame: pd.DataFrame, column: str, key: type) -> dict[Any, int]:
    if column not in frame.columns:
        return {}
    counts = frame[column].value_counts(sort=False, dropna=True)
    return {key(k): int(v) for k, v in counts.items() if v}


# --- proportions ----------------------------------------------------------------------------------


def wilson_interval(successes: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion; None for zero trials."""
    if total <= 0:
        return None
    from scipy import stats  # here, not at the top: its 0.6 s import overlaps the report's drawing

    ci = stats.binomtest(int(successes), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def ok_count(records: TallyOrFrame) -> int:
    return tally(records).outcomes.get(OK, 0)


def availability(records: TallyOrFrame) -> float | None:
    """Share of records whose outcome is ok (attempt or operation scope, by the records given)."""
    t = tally(records)
    return ok_count(t) / t.count if t.count else None


def availability_interval(records: TallyOrFrame, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    t = tally(records)
    return wilson_interval(ok_count(t), t.count, confidence)


def share_interval(successes: int, total: int) -> tuple[float, float] | None:
    """The interval every share of the reports gets (METHODS["wilson"])."""
    return wilson_interval(successes, total)


def error_rate(records: TallyOrFrame) -> float | None:
    value = availability(records)
    return None if value is None else 1.0 - value


def error_rate_interval(records: TallyOrFrame, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    ci = availability_interval(records, confidence)
    return None if ci is None else (1.0 - ci[1], 1.0 - ci[0])


def outcome_counts(records: TallyOrFrame) -> dict[str, int]:
    """Error breakdown: records per outcome, ok included."""
    return {k: v for k, v in sorted(tally(records).outcomes.items()) if v}


def status_counts(records: TallyOrFrame) -> dict[str, int]:
    """Error breakdown by HTTP status (0: no response), as strings so that the keys survive JSON."""
    return {str(k): v for k, v in sorted(tally(records).statuses.items()) if v}


def unauthorized_accepted(attempts: TallyOrFrame) -> int:
    """Attempts the client flagged as a security violation: a bad token the server let through."""
    return tally(attempts).outcomes.get(SECURITY_VIOLATION, 0)


def give_up_rate(operations: TallyOrFrame, retry_on: Iterable[str] | None = None) -> float | None:
    """Share of operations that ended not ok. With `retry_on`, only those whose final outcome was retryable
    count: the client gave up retrying, rather than meeting an error it was never meant to retry."""
    t = tally(operations)
    if not t.count:
        return None
    if retry_on is None:
        failed = t.count - ok_count(t)
    else:
        failed = sum(t.outcomes.get(outcome, 0) for outcome in set(retry_on) if outcome != OK)
    return failed / t.count


# --- latency ----------------------------------------------------------------------------------------


def latency_percentile(records: TallyOrFrame, q: float) -> float | None:
    """The q-th percentile (0..100) of raw latency samples in ms."""
    if isinstance(records, pd.DataFrame) and q not in PERCENTILES.values():
        values = records["latency_ms"].dropna().to_numpy(dtype=float)
        return float(np.percentile(values, q)) if values.size else None
    name = next(n for n, v in PERCENTILES.items() if v == q)
    return tally(records).latency.percentiles[name]


def percentile_interval(records: TallyOrFrame, q: float) -> tuple[float | None, float | None] | None:
    """Distribution-free 95% interval of the q-th percentile (one of PERCENTILES but the max) of raw latency
    samples: the order statistics whose ranks `interval_ranks` gives. A bound the sample is too small to give
    is None (the upper bound of a p99 needs several hundred samples); None for no sample. Exact for any
    distribution, unlike a bootstrap of a tail percentile. A run's slices fetch the two order statistics in
    the scan that fetches their percentiles (harness.analysis.aggregate)."""
    name = next(n for n, v in PERCENTILES.items() if v == q)
    latency = tally(records).latency
    return latency.intervals.get(name) if latency.count else None


Ranks = dict[str, tuple[int | None, int | None]]  # per percentile name: (low, high) 0-based ranks


def interval_ranks(counts: Sequence[int], confidence: float = CONFIDENCE) -> list[Ranks]:
    """For each sample size n: the 0-based ranks of the order statistics bounding each percentile but the max
    with probability `confidence` (METHODS["order_statistic"]), None where n samples cannot give a bound;
    {} for n = 0. One vectorised call for many slices (scipy's per-call overhead is most of the cost)."""
    if not len(counts):
        return []
    from scipy import stats

    p = np.array([q / 100.0 for q in INTERVAL_PERCENTILES.values()])
    n = np.maximum(np.asarray(counts, dtype=np.int64), 1)[:, None]
    alpha = (1.0 - confidence) / 2.0
    # P(X_(r) <= true quantile) = P(Binomial(n, p) >= r): the lower bound is the largest r with that
    # probability >= 1 - alpha, the upper bound the smallest s with P(Binomial(n, p) < s) >= 1 - alpha
    # (ranks 1-based here; a lower rank of 0 is no lower bound)
    low = stats.binom.ppf(alpha, n, p).astype(np.int64)
    high = stats.binom.ppf(1.0 - alpha, n, p).astype(np.int64) + 1
    out: list[Ranks] = []
    for i, count in enumerate(counts):
        ranks: Ranks = {}
        for j, name in enumerate(INTERVAL_PERCENTILES if count else ()):
            lo, hi = int(low[i, j]), int(high[i, j])
            ranks[name] = (lo - 1 if lo >= 1 else None, hi - 1 if hi <= count else None)
        out.append(ranks)
    return out


def t_interval(n: int, total: int, squares: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student t interval of the mean of n integers (METHODS["student_t"]) from their sum and sum of squares,
    which a scan adds up exactly; None below two values or with no spread at all (every value equal: the
    sample says nothing about the spread, and a zero-width interval would claim certainty)."""
    if n < 2:
        return None
    spread = n * squares - total * total  # exact in integers: n (n - 1) times the sample variance
    if spread <= 0:
        return None
    from scipy import stats

    sd = math.sqrt(spread / (n * (n - 1)))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * sd / math.sqrt(n)
    mean = total / n
    return mean - half, mean + half


def latency_percentiles(records: TallyOrFrame) -> dict[str, float | None]:
    """p50, p90, p95, p99, p99.9 and max of raw latency samples in ms (all None for no sample)."""
    return dict(tally(records).latency.percentiles)


def percentiles_of(values: np.ndarray) -> dict[str, float | None]:
    return dict(Latency.of(values).percentiles)


def open_loop_wait_ms(operations: pd.DataFrame) -> np.ndarray:
    """Per operation, how late it started against its intended start (0 for closed-loop operations).
    harness.analysis.aggregate writes the same arithmetic in SQL (OPEN_LOOP_WAIT_MS_SQL)."""
    if "intended_ts" not in operations.columns:
        return np.zeros(len(operations))
    wait = (operations["ts"].to_numpy(dtype=float) - operations["intended_ts"].to_numpy(dtype=float)) * 1000.0
    return np.where(np.isnan(wait), 0.0, np.maximum(wait, 0.0))


def has_open_loop(operations: TallyOrFrame) -> bool:
    return tally(operations).open_loop > 0


def closed_and_open_loop_latency(operations: TallyOrFrame) -> dict[str, dict[str, float | None] | None]:
    """Percentiles of the service (closed-loop) latency, and of the corrected (open-loop) one when any
    operation was open-loop (None otherwise)."""
    t = tally(operations)
    if not t.open_loop:
        return {"closed_loop": dict(t.latency.percentiles), "open_loop": None}
    return {
        "closed_loop": dict(t.closed_loop_latency.percentiles),
        "open_loop": dict(t.open_loop_latency.percentiles),
    }


def exact_latency(records: TallyOrFrame) -> bool:
    """Whether every percentile of these records is exact (False: some came from the histogram sketch)."""
    t = tally(records)
    return t.latency.exact and t.closed_loop_latency.exact and t.open_loop_latency.exact


# --- load and retries -------------------------------------------------------------------------------


def attempts_per_operation_interval(operations: TallyOrFrame) -> tuple[float, float] | None:
    """Student t interval of attempts per operation (the mean of `operations.attempts`)."""
    t = tally(operations)
    return t_interval(t.attempts_count, t.attempts_sum, t.attempts_squares)


def attempts_per_operation(operations: TallyOrFrame) -> float | None:
    """Retry amplification: the mean of `operations.attempts`.

    Taken from the operation records rather than counting attempt rows, so that an operation whose
    retries cross a phase boundary still counts wholly in the phase where the user started it, and a
    lost attempt shard cannot skew it.
    """
    t = tally(operations)
    if not t.count:
        return None
    return t.attempts_sum / t.attempts_count if t.attempts_count else math.nan


def backoff_share(operations: TallyOrFrame) -> float | None:
    """Share of the users' waiting time spent sleeping between retries: sum(backoff) / sum(latency)."""
    t = tally(operations)
    if not t.count:
        return None
    return t.backoff_sum_ms / t.latency_sum_ms if t.latency_sum_ms > 0 else None


def error_budget(records: TallyOrFrame, target: float) -> dict[str, float | int | None]:
    """Error budget of an availability objective `target` over some records: the failures it allows
    ((1 - target) x total), the failures seen, and the share of the budget they burned (1.0: all of it;
    None when the objective allows no failure at all)."""
    t = tally(records)
    total, ok = t.count, ok_count(t)
    allowed = (1.0 - target) * total
    failed = total - ok
    burned = failed / allowed if allowed > 0 else (0.0 if failed == 0 and total else None)
    return {"total": total, "failed": failed, "allowed_failures": allowed, "burned": burned}


def throughput_ops(operations: TallyOrFrame, duration_s: float | None) -> float | None:
    """Operations per second over a duration (a phase's, or the sum of several)."""
    if not duration_s or duration_s <= 0:
        return None
    return tally(operations).count / duration_s


# --- time series (1-second windows) ----------------------------------------------------------------


def window_index(ts: np.ndarray | pd.Series, t0: float) -> np.ndarray:
    """The 1-second window of each timestamp, counted from t0."""
    return np.floor(np.asarray(ts, dtype=float) - t0).astype(np.int64)


def per_second(frame: pd.DataFrame, t0: float) -> pd.DataFrame:
    """The per-second table (see the module docstring) of an in-memory frame of records; a run's comes from
    harness.analysis.aggregate, computed the same way in SQL."""
    columns = ["count", "ok", "attempts_sum", "attempts_count"]
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in columns})
    window = window_index(frame["ts"], t0)
    outcome = frame["outcome"].astype(object).to_numpy()
    attempts = frame["attempts"].to_numpy(dtype=float) if "attempts" in frame.columns else np.full(len(frame), np.nan)
    table = pd.DataFrame(
        {"w": window, "count": 1, "ok": outcome == OK, "attempts_sum": np.nan_to_num(attempts),
         "attempts_count": ~np.isnan(attempts)}
    ).groupby("w")[columns].sum().astype(np.int64)  # fmt: skip
    crossed = pd.crosstab(window, outcome).add_prefix(OUTCOME_COLUMN)
    table = table.join(crossed).fillna(0)
    latency = frame["latency_ms"].to_numpy(dtype=float)
    for w, group in pd.Series(latency).groupby(window):
        values = np.sort(group.dropna().to_numpy())
        if values.size:
            found = percentiles_of_sorted(values, [PERCENTILES[n] for n in SERIES_PERCENTILES])
            table.loc[w, list(SERIES_PERCENTILES)] = found
    table.index.name = None
    return table


def availability_series(windows: pd.DataFrame) -> pd.Series:
    """Availability per window (only windows with records)."""
    seen = windows[windows["count"] > 0]
    return (seen["ok"] / seen["count"]).astype(float).rename("availability")


def latency_series(windows: pd.DataFrame, names: Iterable[str] = SERIES_PERCENTILES) -> pd.DataFrame:
    """Latency percentiles (ms) per window with latency samples, one column per name in SERIES_PERCENTILES."""
    names = list(names)
    if windows.empty or names[0] not in windows.columns:
        return pd.DataFrame(columns=names, dtype=float)
    return windows[names].dropna(how="all").astype(float)


def count_series(windows: pd.DataFrame, length: int | None = None) -> pd.Series:
    """TallyOrFrame per window; with `length`, windows 0..length-1 with zeros where nothing happened."""
    counts = windows["count"].astype(np.int64) if not windows.empty else pd.Series(dtype=np.int64)
    if length is not None:
        counts = counts.reindex(range(max(length, 0)), fill_value=0)
    return counts.astype(np.int64).rename("count")


def throughput_series(windows: pd.DataFrame, length: int | None = None) -> pd.Series:
    """Operations started per second, per window."""
    return count_series(windows, length).astype(float).rename("throughput_ops")


def outcome_series(windows: pd.DataFrame, length: int | None = None) -> pd.DataFrame:
    """TallyOrFrame per window and outcome (one column per outcome seen, ok first), zeros where none."""
    columns = [c for c in windows.columns if str(c).startswith(OUTCOME_COLUMN)]
    if windows.empty or not columns:
        return pd.DataFrame(dtype=np.int64)
    table = windows[columns].astype(np.int64)
    table.columns = [c.removeprefix(OUTCOME_COLUMN) for c in columns]
    table = table.loc[:, table.sum() > 0]
    if length is not None:
        table = table.reindex(range(max(length, int(table.index.max()) + 1)), fill_value=0)
    ordered = sorted(table.columns, key=lambda c: (c != OK, c))
    return table[ordered]


def attempts_per_operation_series(windows: pd.DataFrame) -> pd.Series:
    seen = windows[windows["attempts_count"] > 0] if not windows.empty else windows
    if seen.empty:
        return pd.Series(dtype=float, name="attempts_per_operation")
    return (seen["attempts_sum"] / seen["attempts_count"]).astype(float).rename("attempts_per_operation")


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
    def of(cls, operations: TallyOrFrame) -> Baseline | None:
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


def window_health(windows: pd.DataFrame, baseline: Baseline) -> pd.DataFrame:
    """Per window with operations (a per-second table): availability, p95_ms and whether both are within
    tolerance."""
    table = pd.concat(
        [availability_series(windows), latency_series(windows, ["p95"]).rename(columns={"p95": "p95_ms"})], axis=1
    ).sort_index()
    if "p95_ms" not in table.columns:
        table["p95_ms"] = np.nan
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


def in_flight_note(left_out: Mapping[str, int | None] | None) -> str:
    """`3 records still in flight at the end of phase slow left out`: what an SLO with `in_flight_at_end:
    exclude` left out, as every output words it ("" when it asked for nothing)."""
    if left_out is None:
        return ""
    ended = {phase: n for phase, n in left_out.items() if n is not None}
    parts = []
    if ended or not left_out:
        total = sum(ended.values())
        records = "record" if total == 1 else "records"
        if len(ended) == 1:
            parts.append(f"{total} {records} still in flight at the end of phase {next(iter(ended))} left out")
        else:
            each = ", ".join(f"{phase} {n}" for phase, n in ended.items())
            parts.append(f"{total} {records} still in flight at the end of their phase left out"
                         + (f" ({each})" if each else ""))  # fmt: skip
    for phase in (p for p, n in left_out.items() if n is None):
        parts.append(f"phase {phase} has not ended: none of its records left out")
    return "; ".join(parts)
