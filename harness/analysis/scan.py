"""A run's records queried where they lie: DuckDB over the Parquet files of either layout, never loaded whole.

DuckDB's sort spills to disk past its memory limit, which is what compaction needs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# DuckDB's own memory (its buffers, hash tables and sorts); past it, sorts and aggregations spill to a
# temporary directory. Leaves room under the 2 GB a day-long soak's report is allowed.
MEMORY_LIMIT = "1GB"


def connect(threads: int | None = None, memory_limit: str = MEMORY_LIMIT) -> Any:
    """A DuckDB connection on the CPUs this process may use, spilling to a private temporary directory
    (removed when the connection is closed through `close`)."""
    import duckdb

    spill = tempfile.mkdtemp(prefix="harness-duckdb-")
    con = duckdb.connect(
        config={
            "threads": threads or len(os.sched_getaffinity(0)),
            "memory_limit": memory_limit,
            "temp_directory": spill,
        }
    )
    con.execute("SET parquet_metadata_cache = true")  # many queries over the same files
    return _Connection(con, spill)


class _Connection:
    """A DuckDB connection that also removes its spill directory when closed."""

    def __init__(self, con: Any, spill: str):
        self._con, self._spill = con, spill

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        self._con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parquet_source(paths: Sequence[Path]) -> str:
    """`read_parquet([...])` over the given files, in this order (file_index follows it)."""
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{listed}])"
