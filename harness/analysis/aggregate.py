"""A run's records reduced, out of core, to what the metrics need: a `Tally` per slice of records, merged
latency histograms (the CDFs of the figures), and the seeded samples of the statistics.

Everything starts from the finest groups every slice is a union of: (phase, flow, step) per scope. One
scan per scope counts each group by outcome and status (with the sums the operation metrics need); one
more gives each group's latency histogram (harness.analysis.quantiles). A slice (a phase, an SLO's
phases, flows and steps, a breakdown row, the whole run) then merges its groups' counts and histograms
without touching the records again. Its percentiles are exact: `prepare` finds, for every slice asked for
at once, the one or two buckets holding each order statistic and fetches just their samples in one more
scan per scope; a slice of more than EXACT_MAX_SAMPLES samples takes the histogram's estimate instead
(`sketched` lists them, and the report states the bound).

The samples of `harness.analysis.statistics` are fetched by position in record order (`ORDER BY ts, _file,
_row`). Per-second tables are in `harness.analysis.per_second`.

A record belongs to the phase it began in. A slice with `exclude_in_flight` leaves out the records still in
flight when that phase ended (their end, ts + latency_ms / 1000, after the phase's end: `set_phase_ends`,
from the journal): its groups are a second grouping of the same kind over a view without them (`source`),
made only when some slice asks for it, so that a run whose SLOs do not ask pays nothing for it. Records of
a phase with no end yet (a phase still running) or without a latency are kept: their end is not known.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Context, Decimal
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.analysis import metrics, quantiles
from harness.analysis.metrics import NO_LATENCY, PERCENTILES, Latency, Tally
from harness.analysis.quantiles import Histogram, OrderStatistics
from harness.analysis.scan import Records, bucket_sql, number, string_list
from harness.analysis.statistics import sample_positions

SCOPES = {"attempt": "attempts", "operation": "operations"}
JOURNEY_STEP = "journey"
_SIDES = ("low", "high")  # of an interval
GroupKey = tuple[str | None, str | None, str | None]  # (phase, flow, step)
QS = list(PERCENTILES.values())
# Sums of milliseconds are taken in fixed point (to 1e-18 ms: each value keeps a double's precision, the sum
# is exact integer arithmetic), so that a sum does not depend on the order DuckDB's threads add in, and two
# builds of one report are the same file.
FIXED_POINT = "DECIMAL(38, 18)"
# ...and they come out of DuckDB as text (a DataFrame would make them doubles) and are added in Python with
# room for all 38 digits (the default context keeps 28 and rounds, which would bring the order back).
EXACT = Context(prec=80)
# The values whose percentiles are reported, as SQL over a record (operations: ts, latency_ms, intended_ts).
# The closed-loop one is metrics.open_loop_wait_ms's arithmetic, step for step.
OPEN_LOOP = "intended_ts IS NOT NULL AND NOT isnan(intended_ts)"
VALUES = {
    "latency": ("latency_ms", "TRUE"),
    "closed_loop": (
        f"latency_ms - CASE WHEN {OPEN_LOOP} AND NOT isnan((ts - intended_ts) * 1000.0) "
        "THEN greatest((ts - intended_ts) * 1000.0, 0.0) ELSE 0.0 END",
        "TRUE",
    ),
    "open_loop": ("latency_ms", OPEN_LOOP),
}


@dataclass(frozen=True)
class Slice:
    """Some records of one scope: those of the given phases, flows and steps (None: all)."""

    scope: str  # "attempt" or "operation"
    phases: tuple[str, ...] | None = None
    flows: tuple[str, ...] | None = None
    steps: tuple[str, ...] | None = None
    journeys: bool = True  # False: whole-journey operation records left out ("step operations")
    exclude_in_flight: bool = False  # True: records still in flight when their phase ended left out

    @property
    def grouping(self) -> tuple[str, bool]:
        """Which grouping of the records the slice's groups come from (Aggregates.groups)."""
        return self.scope, self.exclude_in_flight

    def matches(self, key: GroupKey) -> bool:
        phase, flow, step = key
        return (
            (self.phases is None or phase in self.phases)
            and (self.flows is None or flow in self.flows)
            and (self.steps is None or step in self.steps)
            and (self.journeys or step != JOURNEY_STEP)
        )

    def where(self) -> str:
        """The same selection as `matches`, in SQL."""
        terms = ["TRUE"]
        for column, values in (("phase", self.phases), ("flow", self.flows), ("step", self.steps)):
            if values is not None:
                terms.append(f"{column} IN ({string_list(values)[1:-1]})" if values else "FALSE")
        if not self.journeys:
            terms.append(f"step IS DISTINCT FROM '{JOURNEY_STEP}'")
        return " AND ".join(terms)

    def describe(self) -> str:
        parts = [f"{self.scope}s"]
        for name, values in (("phases", self.phases), ("flows", self.flows), ("steps", self.steps)):
            if values is not None:
                parts.append(f"{name} {', '.join(values)}")
        if not self.journeys:
            parts.append("steps only")
        if self.exclude_in_flight:
            parts.append("records in flight at their phase's end left out")
        return ", ".join(parts)


@dataclass
class _Group:
    """One (phase, flow, step) of one scope: counts, sums and latency histograms."""

    count: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    attempts_sum: int = 0
    attempts_count: int = 0
    attempts_squares: int = 0
    backoff_sum: Decimal = Decimal(0)
    latency_sum: Decimal = Decimal(0)
    open_loop: int = 0
    first_ts: float = math.inf
    last_ts: float = -math.inf
    histograms: dict[str, Histogram] = field(default_factory=dict)


class Aggregates:
    """The reductions of one run's records; each computed once, on first use."""

    def __init__(self, records: Records):
        self.records = records
        self._groups: dict[tuple[str, bool], dict[GroupKey, _Group]] = {}
        self._tallies: dict[Slice, Tally] = {}
        self.phase_ends: dict[str, float | None] = {}  # phase -> when it ended (None: not yet, or not known)
        self.sketched: list[Slice] = []  # slices whose percentiles come from the histogram
        self.fetch_scans = 0  # scans spent fetching order statistics (prepare batches them)

    # --- the finest groups --------------------------------------------------------------------------

    def groups(self, scope: str, exclude_in_flight: bool = False) -> dict[GroupKey, _Group]:
        key = (scope, exclude_in_flight)
        if key not in self._groups:
            same = exclude_in_flight and self.source(scope, True) == SCOPES[scope]  # no phase has ended
            self._groups[key] = self.groups(scope) if same else self._count(scope, exclude_in_flight)
        return self._groups[key]

    def set_phase_ends(self, ends: dict[str, float | None]) -> None:
        """When each phase ended (None: it has not, or the journal does not say): what `exclude_in_flight`
        slices are cut by. Forgets what was computed with the previous ends."""
        self.phase_ends = dict(ends)
        for key in [k for k in self._groups if k[1]]:
            del self._groups[key]
        for part in [p for p in self._tallies if p.exclude_in_flight]:
            del self._tallies[part]

    def source(self, scope: str, exclude_in_flight: bool = False) -> str:
        """The records of a scope as SQL to select from: the view, or the view without the records still in
        flight when their phase ended."""
        view = SCOPES[scope]
        ended = [(phase, end) for phase, end in self.phase_ends.items() if end is not None]
        if not exclude_in_flight or not ended:
            return view
        end = "CASE phase " + " ".join(f"WHEN {string_list([p])[1:-1]} THEN {number(e)}" for p, e in ended) + " END"
        # NULL (no latency, no end) is not "after": such a record is kept. NaN compares above every number in
        # DuckDB, hence the isnan.
        after = f"coalesce(ts + latency_ms / 1000.0 > {end} AND NOT isnan(latency_ms), FALSE)"
        return f"(SELECT * FROM {view} WHERE NOT {after})"

    def left_out(self, part: Slice) -> dict[str, int | None]:
        """Per phase of an `exclude_in_flight` slice: how many of its records were left out as still in flight
        when the phase ended (None: the phase has no end, so none could be); {} for any other slice."""
        if not part.exclude_in_flight:
            return {}
        out: dict[str, int | None] = {}
        kept = self.groups(*part.grouping)
        for key, group in self.groups(part.scope).items():
            phase = key[0]
            if phase is None or not part.matches(key):
                continue
            if self.phase_ends.get(phase) is None:
                out[phase] = None
                continue
            found = kept.get(key)
            out[phase] = (out.get(phase) or 0) + group.count - (found.count if found else 0)
        return out

    def _count(self, scope: str, exclude_in_flight: bool = False) -> dict[GroupKey, _Group]:
        view = self.source(scope, exclude_in_flight)
        extra = ""
        if scope == "operation":
            extra = (
                ", sum(attempts) AS attempts_sum, count(attempts) AS attempts_count, "
                "sum(attempts::BIGINT * attempts::BIGINT) AS attempts_squares, "
                f"(sum(backoff_ms::{FIXED_POINT}) FILTER (WHERE NOT isnan(backoff_ms)))::VARCHAR AS backoff_sum, "
                f"(sum(latency_ms::{FIXED_POINT}) FILTER (WHERE NOT isnan(latency_ms)))::VARCHAR AS latency_sum, "
                f"count(*) FILTER (WHERE {OPEN_LOOP}) AS open_loop"
            )
        rows = self.records.frame(
            f"SELECT phase, flow, step, outcome, status, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts"
            f"{extra} FROM {view} GROUP BY ALL"
        )
        groups: dict[GroupKey, _Group] = {}
        for row in rows.itertuples(index=False):
            key = (_str(row.phase), _str(row.flow), _str(row.step))
            group = groups.setdefault(key, _Group())
            n = int(row.n)
            group.count += n
            if _known(row.outcome):
                group.outcomes[str(row.outcome)] += n
            if _known(row.status):
                group.statuses[int(row.status)] += n
            if _known(row.first_ts):
                group.first_ts = min(group.first_ts, float(row.first_ts))
                group.last_ts = max(group.last_ts, float(row.last_ts))
            if scope == "operation":
                group.attempts_sum += int(row.attempts_sum) if _known(row.attempts_sum) else 0
                group.attempts_count += int(row.attempts_count)
                group.attempts_squares += int(row.attempts_squares) if _known(row.attempts_squares) else 0
                if _known(row.backoff_sum):
                    group.backoff_sum = EXACT.add(group.backoff_sum, Decimal(row.backoff_sum))
                if _known(row.latency_sum):
                    group.latency_sum = EXACT.add(group.latency_sum, Decimal(row.latency_sum))
                group.open_loop += int(row.open_loop)
        for value in self._values(scope, groups):
            for key, histogram in self._histograms(view, value).items():
                groups[key].histograms[value] = histogram
        return groups

    def _values(self, scope: str, groups: dict[GroupKey, _Group]) -> list[str]:
        if scope == "operation" and any(g.open_loop for g in groups.values()):
            return list(VALUES)
        return ["latency"]

    def _histograms(self, source: str, value: str) -> dict[GroupKey, Histogram]:
        expression, where = VALUES[value]
        rows = self.records.frame(
            f"SELECT phase, flow, step, b, count(*) AS n, min(x) AS lo, max(x) AS hi FROM ("
            f"SELECT phase, flow, step, x, {bucket_sql('x')} AS b FROM ("
            f"SELECT phase, flow, step, {expression} AS x FROM {source} WHERE {where}) "
            f"WHERE x IS NOT NULL AND NOT isnan(x)) GROUP BY phase, flow, step, b ORDER BY phase, flow, step, b"
        )
        out: dict[GroupKey, Histogram] = {}
        for key, part in rows.groupby(["phase", "flow", "step"], dropna=False, sort=False):
            out[(_str(key[0]), _str(key[1]), _str(key[2]))] = Histogram(
                part["b"].to_numpy(np.int64),
                part["n"].to_numpy(np.int64),
                part["lo"].to_numpy(float),
                part["hi"].to_numpy(float),
            )
        return out

    # --- slices ---------------------------------------------------------------------------------------

    def spans(self) -> dict[str | None, tuple[float, float]]:
        """First and last record time per phase, over both scopes."""
        out: dict[str | None, tuple[float, float]] = {}
        for scope in SCOPES:
            for (phase, _, _), group in self.groups(scope).items():
                if group.first_ts > group.last_ts:
                    continue
                first, last = out.get(phase, (math.inf, -math.inf))
                out[phase] = (min(first, group.first_ts), max(last, group.last_ts))
        return out

    def time_bounds(self, scope: str) -> tuple[float, float] | None:
        """First and last record time of a scope (None: no record with a time)."""
        found = [(g.first_ts, g.last_ts) for g in self.groups(scope).values() if g.first_ts <= g.last_ts]
        if not found:
            return None
        return min(a for a, _ in found), max(b for _, b in found)

    def count(self, scope: str) -> int:
        return sum(g.count for g in self.groups(scope).values())

    def keys(self, scope: str) -> list[GroupKey]:
        return list(self.groups(scope))

    def tally(self, part: Slice) -> Tally:
        if part not in self._tallies:
            self.prepare([part])
        return self._tallies[part]

    def histogram(self, part: Slice, value: str = "latency") -> Histogram:
        groups = self.groups(*part.grouping)
        return Histogram.merge(g.histograms.get(value, Histogram.empty()) for k, g in groups.items() if part.matches(k))

    def prepare(self, slices: Iterable[Slice]) -> None:
        """Compute the tallies of many slices at once: one scan per scope fetches the samples of every
        order statistic they need."""
        todo = list(dict.fromkeys(s for s in slices if s not in self._tallies))
        for grouping in dict.fromkeys(s.grouping for s in todo):
            self._prepare(grouping, [s for s in todo if s.grouping == grouping])

    def _prepare(self, grouping: tuple[str, bool], slices: list[Slice]) -> None:
        groups = self.groups(*grouping)
        orders = {value: OrderStatistics() for value in VALUES}
        planned = []
        sizes = [sum(g.histograms["latency"].count for k, g in groups.items() if part.matches(k) and "latency" in
                     g.histograms) for part in slices]  # fmt: skip
        for part, ranks in zip(slices, metrics.interval_ranks(sizes), strict=True):
            members = [k for k in groups if part.matches(k)]
            found = [groups[k] for k in members]
            open_loop = sum(g.open_loop for g in found)
            plans: dict[str, tuple[Histogram, list[Any] | None]] = {}
            for value in ("latency", "closed_loop", "open_loop") if open_loop else ("latency",):
                merged = Histogram.merge(g.histograms.get(value, Histogram.empty()) for g in found)
                exact = merged.count <= quantiles.EXACT_MAX_SAMPLES
                plan = orders[value].plan(members, merged, QS) if exact and merged.count else None
                plans[value] = (merged, plan)
            merged = plans["latency"][0]
            bounds = {f"{name}:{side}": r for name, pair in ranks.items() for side, r in zip(_SIDES, pair, strict=True)}
            bound_plan = (
                orders["latency"].plan_ranks(members, merged, [r for r in bounds.values() if r is not None])
                if plans["latency"][1] is not None
                else None
            )
            planned.append((part, found, open_loop, plans, (bounds, bound_plan)))
        for value, order in orders.items():
            if order.wanted:
                order.supply(self._fetch(self.source(*grouping), value, order.wanted))
        for part, found, open_loop, plans, (bounds, bound_plan) in planned:
            latencies = {v: self._latency(part, orders[v], merged, plan) for v, (merged, plan) in plans.items()}
            latencies["latency"] = replace(
                latencies["latency"], intervals=_intervals(bounds, orders["latency"], plans["latency"][0], bound_plan)
            )
            tally = Tally(
                count=sum(g.count for g in found),
                outcomes=dict(sum((g.outcomes for g in found), Counter())),
                statuses=dict(sum((g.statuses for g in found), Counter())),
                latency=latencies["latency"],
                attempts_sum=sum(g.attempts_sum for g in found),
                attempts_count=sum(g.attempts_count for g in found),
                attempts_squares=sum(g.attempts_squares for g in found),
                backoff_sum_ms=float(reduce(EXACT.add, (g.backoff_sum for g in found), Decimal(0))),
                latency_sum_ms=float(reduce(EXACT.add, (g.latency_sum for g in found), Decimal(0))),
                open_loop=open_loop,
                closed_loop_latency=latencies.get("closed_loop", NO_LATENCY),
                open_loop_latency=latencies.get("open_loop", NO_LATENCY),
            )
            self._tallies[part] = tally

    def _latency(self, part: Slice, order: OrderStatistics, merged: Histogram, plan: list[Any] | None) -> Latency:
        n = merged.count
        if not n:
            return NO_LATENCY
        if plan is None:
            self.sketched.append(part)
            return Latency(n, dict(zip(PERCENTILES, merged.percentiles(QS), strict=True)), exact=False)
        return Latency(n, dict(zip(PERCENTILES, order.percentiles(plan, n, QS), strict=True)))

    def _fetch(self, source: str, value: str, wanted: dict[object, set[int]]) -> dict[object, tuple[Any, Any]]:
        """Per group: (bucket ids, values) of its records in the wanted buckets; one scan."""
        keys = list(wanted)
        rows = [(i, *keys[i], b) for i in range(len(keys)) for b in sorted(wanted[keys[i]])]  # type: ignore[misc]
        table = pa.table(
            {
                "gid": pa.array([r[0] for r in rows], pa.int64()),
                "phase": pa.array([r[1] for r in rows], pa.string()),
                "flow": pa.array([r[2] for r in rows], pa.string()),
                "step": pa.array([r[3] for r in rows], pa.string()),
                "b": pa.array([r[4] for r in rows], pa.int64()),
            }
        )
        self.records.register("_wanted", table)
        expression, where = VALUES[value]
        found = self.records.arrow(
            f"SELECT w.gid, v.b, v.x FROM (SELECT phase, flow, step, x, {bucket_sql('x')} AS b FROM ("
            f"SELECT phase, flow, step, {expression} AS x FROM {source} WHERE {where}) "
            f"WHERE x IS NOT NULL AND NOT isnan(x)) v JOIN _wanted w ON v.b = w.b "
            f"AND v.phase IS NOT DISTINCT FROM w.phase AND v.flow IS NOT DISTINCT FROM w.flow "
            f"AND v.step IS NOT DISTINCT FROM w.step ORDER BY w.gid"
        )
        self.fetch_scans += 1
        gid = found.column("gid").to_numpy()
        buckets, values = found.column("b").to_numpy(), found.column("x").to_numpy()
        edges = np.searchsorted(gid, np.arange(len(keys) + 1))
        return {keys[i]: (buckets[edges[i] : edges[i + 1]], values[edges[i] : edges[i + 1]]) for i in range(len(keys))}

    def sampled(self, part: Slice) -> Tally:
        """The slice's tally with its seeded latency sample (statistics.sample_positions), which the
        baseline comparisons need; fetched once per slice."""
        found = self.tally(part)
        if found.sample is None:
            found = replace(found, sample=self._sample(part, found.latency.count))
            self._tallies[part] = found
        return found

    def _sample(self, part: Slice, n: int) -> np.ndarray:
        source = (
            f"SELECT latency_ms AS x, ts, _file, _row FROM {self.source(*part.grouping)} WHERE {part.where()} "
            f"AND latency_ms IS NOT NULL AND NOT isnan(latency_ms) {self._time_bounds(part)}"
        )
        positions = sample_positions(n)
        if positions is None:
            found = self.records.arrow(f"SELECT x FROM ({source}) ORDER BY ts, _file, _row")
            every: np.ndarray = found.column("x").to_numpy()
            return every
        self.records.register("_positions", pa.table({"i": np.arange(positions.size), "pos": positions}))
        found = self.records.arrow(
            f"SELECT p.i, v.x FROM (SELECT x, row_number() OVER (ORDER BY ts, _file, _row) - 1 AS pos "
            f"FROM ({source})) v JOIN _positions p ON v.pos = p.pos ORDER BY p.i"
        )
        sample: np.ndarray = found.column("x").to_numpy()
        return sample

    def _time_bounds(self, part: Slice) -> str:
        """A ts range holding every record of the slice: lets DuckDB skip row groups of compacted files."""
        spans = [
            (g.first_ts, g.last_ts) for k, g in self.groups(*part.grouping).items() if part.matches(k) and g.count
        ]
        if not spans or any(not math.isfinite(a) for a, _ in spans):
            return ""
        return f"AND ts BETWEEN {number(min(a for a, _ in spans))} AND {number(max(b for _, b in spans))}"


def _intervals(
    bounds: dict[str, int | None], order: OrderStatistics, merged: Histogram, plan: list[Any] | None
) -> dict[str, tuple[float | None, float | None]]:
    """The intervals of a slice's percentiles from their fetched order statistics (or, for a slice past
    EXACT_MAX_SAMPLES, the histogram's estimates of them)."""
    found: dict[str, float | None] = {}
    fetched = iter(plan or ())
    for key, rank in bounds.items():
        if rank is None:
            found[key] = None
        elif plan is None:
            found[key] = merged.estimate(rank)
        else:
            need, local = next(fetched)
            found[key] = order.value(need, local)
    names = dict.fromkeys(key.split(":")[0] for key in bounds)
    return {name: (found[f"{name}:low"], found[f"{name}:high"]) for name in names}


def _known(value: object) -> bool:
    return value is not None and value is not pd.NA and not (isinstance(value, float) and math.isnan(value))


def _str(value: object) -> str | None:
    return str(value) if _known(value) else None
