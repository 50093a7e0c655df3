"""A run's records queried where they lie: DuckDB over the Parquet files of either layout, never loaded whole.

DuckDB was measured against pyarrow datasets with streaming numpy aggregation on the report's own queries
(README, "Analysis out of core") and chosen: grouped counts and per-second tables are single SQL
aggregations that run on both cores in a bounded amount of memory, and its sort spills to disk, which is
what compaction needs. Percentile arithmetic stays in numpy (harness.analysis.quantiles), so that exact
percentiles equal numpy's to the last bit.

Two views, `attempts` and `operations`, hold the columns of `harness.records` (a column older shards lack
reads as null) plus `_file` and `_row`: the record order analysis has always used is
`ORDER BY ts, _file, _row` (by time, ties in file order then row order), the order compaction writes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import pyarrow as pa

from harness.analysis.quantiles import BUCKET_OFFSET, BUCKETS_PER_OCTAVE
from harness.records import SCHEMAS, record_files

KINDS = ("attempts", "operations")
# DuckDB's own memory (its buffers, hash tables and sorts); past it, sorts and aggregations spill to a
# temporary directory. Leaves room under the 2 GB a day-long soak's report is allowed.
MEMORY_LIMIT = "1GB"
_SQL_TYPES = {"double": "DOUBLE", "string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT"}


def connect(threads: int | None = None, memory_limit: str = MEMORY_LIMIT) -> Any:
    """A DuckDB connection on the CPUs this process may use, spilling to a private temporary directory
    (removed when the connection is closed through `close`)."""
    import duckdb

    spill = tempfile.mkdtemp(prefix="harness-duckdb-")
    try:
        con = _Connection(
            duckdb.connect(
                config={
                    "threads": threads or len(os.sched_getaffinity(0)),
                    "memory_limit": memory_limit,
                    "temp_directory": spill,
                }
            ),
            spill,
        )
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        raise
    con.execute("SET parquet_metadata_cache = true")  # many queries over the same files
    # The bar would draw on the terminal of whoever runs the report; a Jupyter kernel without ipywidgets
    # refuses the setting, and draws no bar either.
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    return con


class _Connection:
    """A DuckDB connection that also removes its spill directory when closed (or, failing that, when it is
    garbage-collected)."""

    def __init__(self, con: Any, spill: str):
        self._con = con
        self._remove_spill = weakref.finalize(self, shutil.rmtree, spill, True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        self._con.close()
        self._remove_spill()

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parquet_source(paths: Sequence[Path]) -> str:
    """`read_parquet([...])` over the given files, in this order (file_index follows it)."""
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{listed}])"


def bucket_sql(x: str) -> str:
    """The histogram bucket of a value (harness.analysis.quantiles): the same expression in every query, so
    that a bucket counted in one scan is the bucket fetched in the next."""
    return (
        f"CASE WHEN {x} > 0 THEN {BUCKET_OFFSET} + floor(log2({x}) * {BUCKETS_PER_OCTAVE})::BIGINT "
        f"WHEN {x} < 0 THEN -{BUCKET_OFFSET} - floor(log2(-{x}) * {BUCKETS_PER_OCTAVE})::BIGINT ELSE 0 END"
    )


def number(value: float) -> str:
    """A float as a SQL literal that reads back as the same double."""
    return f"{float(value)!r}::DOUBLE"


def string_list(values: Iterable[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


class Records:
    """The attempt and operation records of one run directory's `records/`, as DuckDB views (over the files
    there when opened; `threads`: DuckDB's, all this process may use by default)."""

    def __init__(self, records_dir: str | Path, threads: int | None = None):
        self.records_dir = Path(records_dir)
        self.con = connect(threads)
        self.files = {kind: record_files(self.records_dir, kind) for kind in KINDS}
        for kind in KINDS:
            self._view(kind)

    def _view(self, kind: str) -> None:
        schema = SCHEMAS[kind]
        paths = self.files[kind]
        if not paths:
            self.con.register(f"_empty_{kind}", schema.empty_table())
            self.con.execute(
                f"CREATE VIEW {kind} AS SELECT *, 0::BIGINT AS _file, 0::BIGINT AS _row FROM _empty_{kind}"
            )
            return
        source = parquet_source(paths)
        present = {row[0] for row in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        columns = [
            f'"{f.name}"' if f.name in present else f'NULL::{_SQL_TYPES[str(f.type)]} AS "{f.name}"' for f in schema
        ]
        self.con.execute(
            f"CREATE VIEW {kind} AS SELECT {', '.join(columns)}, file_index::BIGINT AS _file, "
            f"file_row_number AS _row FROM {source}"
        )

    def arrow(self, query: str, parameters: Sequence[object] | None = None) -> pa.Table:
        return self.con.sql(query, params=parameters).to_arrow_table() if parameters else self.con.sql(
            query
        ).to_arrow_table()

    def frame(self, query: str) -> pd.DataFrame:
        """A query's result as a pandas frame: for the small results analysis hands on, and for your own
        questions in the notebook (`run.records.frame("SELECT ... FROM operations ...")`)."""
        return self.con.sql(query).df()

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Records:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
