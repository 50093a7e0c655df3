"""Per-second tables of a run's records (the shape `harness.analysis.metrics` defines its series on): one
GROUP BY on the window `floor(ts - t0)` for the counts, and exact p50/p95/p99 per window from each window's
sorted samples, taken a few million records at a time so that memory stays bounded however long the run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.analysis.aggregate import SCOPES, Slice
from harness.analysis.metrics import OK, OUTCOME_COLUMN, PERCENTILES, SERIES_PERCENTILES
from harness.analysis.quantiles import interpolate_many
from harness.analysis.scan import Records, number

COUNTS = ("count", "ok", "attempts_sum", "attempts_count")
# Per-second percentiles hold the samples of this many records at a time (sorted per window in DuckDB).
WINDOW_CHUNK_ROWS = 4_000_000


def table(
    records: Records, scope: str, t0: float, *, journeys: bool = False, part: Slice | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """The per-second table (metrics docstring) of a scope; operations without whole-journey records
    unless `journeys`; only the records of `part` when given (a metric plugin's slice), read from `source`
    (Aggregates.source: without the records in flight at their phase's end, for such a slice) when given.
    Operations carry p50/p95/p99 of their latency."""
    part = part or Slice(scope, journeys=journeys or scope == "attempt")
    window = f"floor(ts - {number(t0)})::BIGINT"
    extra = ", sum(attempts) AS attempts_sum, count(attempts) AS attempts_count" if scope == "operation" else ""
    rows = records.frame(
        f"SELECT {window} AS w, outcome, count(*) AS n{extra} FROM {source or SCOPES[scope]} "
        f"WHERE ts IS NOT NULL AND {part.where()} GROUP BY ALL"
    )
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in COUNTS})
    if "attempts_sum" not in rows.columns:
        rows["attempts_sum"], rows["attempts_count"] = 0, 0
    rows["attempts_sum"] = rows["attempts_sum"].fillna(0)
    rows["ok"] = rows["n"].where(rows["outcome"] == OK, 0)
    table = rows.groupby("w")[["n", "ok", "attempts_sum", "attempts_count"]].sum().astype(np.int64)
    table = table.rename(columns={"n": "count"})
    crossed = rows.dropna(subset=["outcome"]).pivot_table(index="w", columns="outcome", values="n", aggfunc="sum")
    table = table.join(crossed.add_prefix(OUTCOME_COLUMN)).fillna(0)
    for c in table.columns:
        table[c] = table[c].astype(np.int64)
    if scope == "operation":
        found = _window_percentiles(records, part, t0, table["count"], source=source or SCOPES[scope])
        table = table.join(found.drop(columns="key"))
    table.index.name = None
    return table

def step_latency(records: Records, steps: Sequence[str], t0: float) -> dict[str, pd.DataFrame]:
    """p50/p95/p99 of operation latency per second, per step (whole-journey records as step "journey")."""
    if not steps:
        return {}
    part = Slice("operation", steps=tuple(steps))
    counts = records.frame(
        f"SELECT floor(ts - {number(t0)})::BIGINT AS w, count(*) AS n FROM operations "
        f"WHERE ts IS NOT NULL AND {part.where()} GROUP BY ALL"
    ).set_index("w")["n"]
    found = _window_percentiles(records, part, t0, counts, by_step=True)
    return {step: found[found["key"] == step].drop(columns="key") for step in steps}

def _window_percentiles(
    records: Records, part: Slice, t0: float, counts: pd.Series, *, by_step: bool = False,
    source: str = "operations",
) -> pd.DataFrame:
    """Exact SERIES_PERCENTILES per window (and step), a few million records at a time."""
    window = f"floor(ts - {number(t0)})::BIGINT"
    key = "step" if by_step else "NULL::VARCHAR"
    picks = []
    for name in SERIES_PERCENTILES:
        q = number(np.true_divide(PERCENTILES[name], 100))
        below = f"floor((n - 1) * {q})::BIGINT"
        picks.append(f"l[{below} + 1] AS \"{name}_lo\", l[least({below} + 2, n)] AS \"{name}_hi\"")
    parts = []
    for first, last in _chunks(counts.sort_index(), WINDOW_CHUNK_ROWS):
        lo, hi = number(t0 + first - 1), number(t0 + last + 2)
        parts.append(
            records.arrow(
                f"SELECT w, key, n, {', '.join(picks)} FROM (SELECT w, key, count(*) AS n, list_sort(list(x)) AS l "
                f"FROM (SELECT {window} AS w, {key} AS key, latency_ms AS x FROM {source} WHERE {part.where()} "
                f"AND ts >= {lo} AND ts < {hi} AND latency_ms IS NOT NULL AND NOT isnan(latency_ms)) "
                f"WHERE w BETWEEN {first} AND {last} GROUP BY w, key) ORDER BY key, w"
            )
        )
    out = pd.DataFrame(columns=["key", *SERIES_PERCENTILES], dtype=float)
    if not parts:
        return out
    table = pa.concat_tables(parts)
    n = table.column("n").to_numpy()
    result = {"key": table.column("key").to_pylist()}
    for name in SERIES_PERCENTILES:
        lo, hi = table.column(f"{name}_lo").to_numpy(), table.column(f"{name}_hi").to_numpy()
        result[name] = interpolate_many(lo, hi, n, PERCENTILES[name])
    return pd.DataFrame(result, index=table.column("w").to_numpy())


def _chunks(counts: pd.Series, limit: int) -> list[tuple[int, int]]:
    """Consecutive windows grouped so that each group holds at most `limit` records (or one window)."""
    out: list[tuple[int, int]] = []
    first: int | None = None
    held = previous = 0
    for w, n in counts.items():
        w, n = int(w), int(n)
        if first is not None and held + n > limit:
            out.append((first, previous))
            first, held = None, 0
        if first is None:
            first = w
        held += n
        previous = w
    if first is not None:
        out.append((first, previous))
    return out
