"""The two kinds of record (DESIGN "Data") and the shard files they live in.

Records are written where they are made: every load process appends to its own buffer and closes one
Parquet shard per flush under `records/`, named `<kind>-<node>-<seq>.parquet`. A closed shard is a whole
file, so a reader (a live view, `harness report` after a crash) never sees half a row group. Analysis
reads every shard of a kind as one pyarrow dataset.

Nothing secret is a field here: no token, code, client secret or password has a column to go into. The
columns are the keys of harness.contract's AttemptRow and OperationRow (a test holds them equal).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ATTEMPT_SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),  # epoch seconds at send
        ("op_id", pa.string()),
        ("flow", pa.string()),
        ("step", pa.string()),
        ("endpoint", pa.string()),  # logical name (token, jwks...) or the path when it has none
        ("method", pa.string()),
        ("attempt", pa.int32()),  # 1-based within the operation
        ("status", pa.int32()),  # 0 when no response arrived
        ("outcome", pa.string()),  # harness.scenario.model.Outcome
        ("latency_ms", pa.float64()),
        ("bytes", pa.int64()),
        ("phase", pa.string()),
        ("user", pa.string()),
        ("node", pa.string()),
        ("error", pa.string()),  # exception class or short reason; never a response body
    ]
)

OPERATION_SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),  # epoch seconds when the operation started
        ("op_id", pa.string()),
        ("flow", pa.string()),
        ("step", pa.string()),
        ("attempts", pa.int32()),
        ("outcome", pa.string()),  # outcome of the last attempt
        ("status", pa.int32()),  # status of the last attempt
        ("latency_ms", pa.float64()),  # end to end, backoff included
        ("backoff_ms", pa.float64()),
        ("phase", pa.string()),
        ("user", pa.string()),
        ("node", pa.string()),
        ("intended_ts", pa.float64()),  # open-loop arrival: when it should have started; null when closed
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"attempts": ATTEMPT_SCHEMA, "operations": OPERATION_SCHEMA}


class ShardWriter:
    """Buffers rows of one kind and writes them as numbered Parquet shards, one closed file per flush.

    Appending is cheap (a dict into a list); the Parquet encode happens in `flush`, which the load side
    calls about once a second. Safe to call from several threads or greenlets.
    """

    def __init__(self, directory: str | Path, kind: str, node: str):
        if kind not in SCHEMAS:
            raise ValueError(f"unknown record kind {kind!r} (known: {', '.join(SCHEMAS)})")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.kind, self.node, self.schema = kind, node, SCHEMAS[kind]
        self._rows: list[Mapping[str, Any]] = []
        self._columns = set(self.schema.names)
        self._seq = 0
        self._lock = threading.Lock()
        self.written = 0

    def append(self, row: Mapping[str, Any]) -> None:
        self._rows.append(row)

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return 0
            if rows[0].keys() != self._columns:  # a misspelled key would be a null column, silently
                odd = sorted(set(rows[0]) ^ self._columns)
                raise ValueError(f"{self.kind} row keys differ from the schema's columns: {', '.join(odd)}")
            self._seq += 1
            name = f"{self.kind}-{self.node}-{self._seq:06d}.parquet"
            # column lists, then from_pydict: about 2 us a row where from_pylist takes about 16 (its
            # per-row dict walk), and this runs in the load process, between requests
            table = pa.Table.from_pydict({name: [row.get(name) for row in rows] for name in self.schema.names},
                                         schema=self.schema)  # fmt: skip
            tmp = self.directory / f".{name}.tmp"
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, self.directory / name)  # readers only ever see whole shards
            self.written += len(rows)
            return len(rows)


def shard_paths(records_dir: str | Path, kind: str) -> list[Path]:
    return sorted(Path(records_dir).glob(f"{kind}-*.parquet"))


def read_records(records_dir: str | Path, kind: str, columns: Iterable[str] | None = None) -> pa.Table:
    """Every shard of one kind as one table (empty, with the right schema, when there is none)."""
    schema = SCHEMAS[kind]
    paths = shard_paths(records_dir, kind)
    cols = list(columns) if columns is not None else None
    if not paths:
        empty = schema.empty_table()
        return empty.select(cols) if cols else empty
    import pyarrow.dataset as ds

    return ds.dataset([str(p) for p in paths], schema=schema, format="parquet").to_table(columns=cols)
