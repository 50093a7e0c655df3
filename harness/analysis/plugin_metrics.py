"""Metric plugins (`harness.metrics` entry points): a metric of your own over a run's records, which an SLO
names as it names ours (`metric: <entry name>`, with `scope`, `phases`, `flows`, `steps`) and which is
judged by harness.analysis.slo like ours, so the report, summary.json, junit.xml, the notebook and the live
view all show the one number measured here.

A plugin subclasses `PluginMetric` and writes `measure(records)`, or subclasses `SqlMetric` and writes a
query. Either way it sees the records of the SLO's slice only, where they lie, never all rows in memory:

- `records.value(query)` / `records.sql(query)`: a DuckDB query over the view `records` (the slice's rows,
  the columns of harness.records' attempt or operation schema); a result is at most MAX_RESULT_ROWS rows
  (aggregate in SQL: a query that would hand back every record is refused);
- `records.tally`: the slice reduced to counts by outcome and status, sums and exact latency percentiles
  (harness.analysis.metrics.Tally, what every built-in metric reads; `metrics.availability(records.tally)`);
- `records.per_second()`: the slice's per-second table (one row per second with records: harness.analysis.
  metrics' docstring), as the report's figures read it.

`measure` returns a number, or None when the records say nothing; the SLO's verdict is then "no_data",
which fails the run, as a built-in metric with nothing to measure does. A `measure` that raises, or returns
something that is not a finite number, also gives "no_data", its message saying why: the report is still
built. `problems()` checks the class when the scenario is validated (a SqlMetric's query is run on empty
records then), so a broken plugin is refused, exit 2, before anything starts.
"""

from __future__ import annotations

import math
import numbers
from functools import cached_property
from typing import Any, ClassVar

import pandas as pd

from harness.analysis import per_second
from harness.analysis.aggregate import SCOPES, Slice
from harness.analysis.frames import Run
from harness.analysis.metrics import Tally
from harness.analysis.scan import connect
from harness.records import SCHEMAS
from harness.scenario.judging import metric_plugins

MAX_RESULT_ROWS = 100_000  # a metric's query hands back small results, never the records themselves
SCOPE_NAMES = ("attempt", "operation")


class MetricError(Exception):
    """A metric plugin's query or result cannot be used (its SLO reads "no data", saying why)."""


class MetricRecords:
    """The records of one SLO's slice, as a metric plugin sees them (see the module docstring)."""

    def __init__(self, run: Run, part: Slice):
        self.run, self.slice = run, part

    @property
    def scope(self) -> str:
        """"attempt" or "operation" (step operations: whole-journey records are left out)."""
        return self.slice.scope

    @property
    def t0(self) -> float:
        """The test start (window 0 of `per_second`), in seconds since the epoch."""
        return self.run.t0

    @property
    def duration_s(self) -> float:
        """The summed durations of the slice's phases that ran (all of them when it names none)."""
        names = self.slice.phases
        return sum(p.duration_s or 0.0 for p in self.run.phases if names is None or p.name in names)

    @cached_property
    def tally(self) -> Tally:
        return self.run.stats.tally(self.slice)

    def per_second(self) -> pd.DataFrame:
        return per_second.table(self.run.records, self.scope, self.run.t0, part=self.slice,
                                source=self.run.stats.source(*self.slice.grouping))  # fmt: skip

    def sql(self, query: str) -> pd.DataFrame:
        """The result of `query` (a SELECT over the view `records`), at most MAX_RESULT_ROWS rows."""
        return run_query(self.run.records.con, self.run.stats.source(*self.slice.grouping), self.slice.where(), query)

    def value(self, query: str) -> float | None:
        """The one number `query` gives: its first column of its one row (None for a NULL or no row)."""
        return one_value(self.sql(query))


def run_query(con: Any, view: str, where: str, query: str) -> pd.DataFrame:
    text = query.strip().rstrip(";")
    records = f"SELECT * EXCLUDE (_file, _row) FROM {view} WHERE {where}"
    limited = f"WITH records AS ({records}) SELECT * FROM ({text}) LIMIT {MAX_RESULT_ROWS + 1}"
    frame: pd.DataFrame = con.sql(limited).df()
    if len(frame) > MAX_RESULT_ROWS:
        raise MetricError(f"its query gives more than {MAX_RESULT_ROWS:,} rows; aggregate in SQL (a metric reads "
                          "a small result, never the records themselves)")  # fmt: skip
    return frame


def one_value(frame: pd.DataFrame) -> float | None:
    if frame.shape[1] < 1 or len(frame) > 1:
        raise MetricError(f"its query gives {len(frame)} rows of {frame.shape[1]} columns; a value is one row, "
                          "its first column the number")  # fmt: skip
    if frame.empty:
        return None
    found = frame.iat[0, 0]
    return None if found is None or (isinstance(found, float) and math.isnan(found)) or found is pd.NA else found


class PluginMetric:
    """The base of a metric plugin: a number measured over the records of an SLO's slice."""

    description: ClassVar[str] = ""  # what it measures, in one line (`harness scenarios --plugins` shows it)
    scopes: ClassVar[tuple[str, ...]] = SCOPE_NAMES  # the records it can measure (an SLO's `scope`)
    share: ClassVar[bool] = False  # a share from 0 to 1 (reads as a percentage): a bound outside is refused
    unit: ClassVar[str] = ""  # what a number reads with when not a share ("ms", "s", "req/s")

    def measure(self, records: MetricRecords) -> float | None:
        raise NotImplementedError

    @classmethod
    def problems(cls) -> str | None:
        """What keeps this class from being used, or None (checked when a scenario is validated)."""
        if cls.measure is PluginMetric.measure:
            return "it does not define measure(records) (or, for a SqlMetric, a query)"
        if not (isinstance(cls.scopes, tuple) and cls.scopes and set(cls.scopes) <= set(SCOPE_NAMES)):
            return f"scopes is {cls.scopes!r}; give a tuple of 'attempt' and/or 'operation'"
        if not isinstance(cls.share, bool):
            return f"share is {cls.share!r}; give True (a share from 0 to 1) or False"
        if not isinstance(cls.unit, str):
            return f"unit is {cls.unit!r}; give a string (\"ms\", \"s\") or nothing"
        return None


class SqlMetric(PluginMetric):
    """A metric that is one DuckDB query over the view `records`: its one row's first column."""

    query: ClassVar[str] = ""

    def measure(self, records: MetricRecords) -> float | None:
        return records.value(self.query)

    @classmethod
    def problems(cls) -> str | None:
        if not isinstance(cls.query, str) or not cls.query.strip():
            return "a SqlMetric needs a query (a SELECT over the view `records` giving one number)"
        if (problem := super().problems()) is not None:
            return problem
        return _dry_run(cls.query, cls.scopes)


def _dry_run(query: str, scopes: tuple[str, ...]) -> str | None:
    """Run `query` on empty records of each scope: a typo or a column that does not exist shows now."""
    import duckdb

    with connect(threads=1, memory_limit="64MB") as con:
        for scope in scopes:
            view = SCOPES[scope]
            con.register(f"_empty_{view}", SCHEMAS[view].empty_table())
            con.execute(f"CREATE VIEW {view} AS SELECT *, 0::BIGINT AS _file, 0::BIGINT AS _row FROM _empty_{view}")
            try:
                frame = run_query(con, view, "TRUE", query)
                if frame.shape[1] < 1:
                    return "its query gives no column; the first column is the number"
            except duckdb.Error as exc:
                return f"its query does not run on {scope} records: {str(exc).splitlines()[0]}"
            except MetricError as exc:
                return str(exc)
    return None


def registered() -> dict[str, type[PluginMetric]]:
    """name -> class of every metric plugin (checked when scenarios are validated: PluginError otherwise)."""
    return metric_plugins()


def measure(name: str, run: Run, part: Slice) -> tuple[float | None, str]:
    """The plugin `name`'s number over the records of `part`, and why there is none (its error, if any)."""
    cls = registered()[name]
    try:
        found = cls().measure(MetricRecords(run, part))
    except Exception as exc:  # a plugin may fail in any way; its SLO says how, and the report is still built
        return None, f"metric plugin {name} failed ({type(exc).__name__}: {exc})"
    if found is None:
        return None, f"metric {name} measured nothing"
    if isinstance(found, bool) or not isinstance(found, numbers.Real) or not math.isfinite(float(found)):
        return None, f"metric plugin {name} returned {found!r}, not a finite number"
    return float(found), ""
