"""The two kinds of record (DESIGN "Data") and the shard files they live in.

Records are written where they are made: every load process appends to its own buffer and closes one
Parquet shard per flush under `records/`, named `<kind>-<node>-<seq>.parquet`. A closed shard is a whole
file, so a reader (a live view, `harness report` after a crash) never sees half a row group.

At the end of a run the shards of a kind are compacted (`harness.analysis.compact`) into a few files sorted
by time under `records/<kind>/`, listed by that directory's `MANIFEST.json` together with the shards they
replace. The manifest is written last, so it is the commit point: files it does not list (a compaction that
died) are ignored, shards it lists are already in its files. `record_files` gives the files of a kind in
record order for either layout, or both at once, which is how every reader finds them.

Nothing secret is a field here: no token, code, client secret or password has a column to go into. The
columns are the keys of harness.contract's AttemptRow and OperationRow (a test holds them equal).
"""

from __future__ import annotations

import json
import operator
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
# How a shard is encoded. Shards are short-lived (compaction re-encodes them, harness.analysis.compact) and
# their columns are mostly unique values (op_id, ts, latencies) or a few words that zstd squeezes anyway:
# plain encoding measured 0.35 us a row against 0.51 with dictionaries, and 10 bytes a row against 15.
# Column statistics for `ts` only, the one a reader of shards uses (harness.run.coverage, time ranges):
# the others cost 0.06 us a row and skip nothing in a one-second shard
SHARD_WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd", "use_dictionary": False, "write_statistics": ["ts"]}


class ShardWriter:
    """Buffers rows of one kind and writes them as numbered Parquet shards, one closed file per flush.

    Appending is cheap: the row's values go into a list as one tuple in column order (a C call; a tuple of
    15 values is a quarter of the memory of the 15-key dict it came from, and the dict dies young), and
    the flush transposes the tuples into columns in C. The Parquet encode happens in `flush`, which the
    load side calls about once a second. Safe to call from several threads or greenlets.
    """

    def __init__(self, directory: str | Path, kind: str, node: str):
        if kind not in SCHEMAS:
            raise ValueError(f"unknown record kind {kind!r} (known: {', '.join(SCHEMAS)})")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.kind, self.node, self.schema = kind, node, SCHEMAS[kind]
        self._rows: list[tuple[Any, ...]] = []
        self._values = operator.itemgetter(*self.schema.names)  # a row's values in column order
        self._width = len(self.schema.names)
        self._seq = 0
        self._lock = threading.Lock()
        self.written = 0

    def append(self, row: Mapping[str, Any]) -> None:
        """A row with a key missing or one too many is refused here (ValueError): a misspelled key would
        otherwise be a null column, silently."""
        try:
            if len(row) != self._width:
                raise KeyError
            self._rows.append(self._values(row))
        except KeyError:
            odd = sorted(set(row) ^ set(self.schema.names))
            raise ValueError(f"{self.kind} row keys differ from the schema's columns: {', '.join(odd)}") from None

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return 0
            self._seq += 1
            name = f"{self.kind}-{self.node}-{self._seq:06d}.parquet"
            # zip(*rows) transposes in C: a Python loop over row.get per column took 0.4-0.5 us a row
            by_column = zip(*rows, strict=True)
            columns = [pa.array(values, type=field.type) for values, field in zip(by_column, self.schema, strict=True)]
            table = pa.Table.from_arrays(columns, schema=self.schema)
            tmp = self.directory / f".{name}.tmp"
            pq.write_table(table, tmp, **SHARD_WRITE_OPTIONS)
            os.replace(tmp, self.directory / name)  # readers only ever see whole shards
            self.written += len(rows)
            return len(rows)


def shard_paths(records_dir: str | Path, kind: str) -> list[Path]:
    return sorted(Path(records_dir).glob(f"{kind}-*.parquet"))


MANIFEST = "MANIFEST.json"


@dataclass(frozen=True)
class Manifest:
    """What a compaction of one kind committed: its files in record order and the shards they hold."""

    generation: int
    files: tuple[str, ...]  # names inside records/<kind>/, in time order
    sources: frozenset[str]  # shard names (records/<name>) whose rows are in `files`
    rows: int


def compacted_dir(records_dir: str | Path, kind: str) -> Path:
    return Path(records_dir) / kind


def read_manifest(records_dir: str | Path, kind: str) -> Manifest | None:
    """The committed compaction of a kind; None when there is none (or its manifest is unreadable, in which
    case the shards it would have replaced are still there: they are deleted only after it is written)."""
    path = compacted_dir(records_dir, kind) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(int(data["generation"]), tuple(data["files"]), frozenset(data["sources"]), int(data["rows"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_manifest(records_dir: str | Path, kind: str, manifest: Manifest) -> None:
    directory = compacted_dir(records_dir, kind)
    data = {"generation": manifest.generation, "files": list(manifest.files), "sources": sorted(manifest.sources),
            "rows": manifest.rows, "sorted_by": "ts"}  # fmt: skip
    tmp = directory / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, directory / MANIFEST)


def record_files(records_dir: str | Path, kind: str) -> list[Path]:
    """Every file holding records of one kind, in record order: the compacted files, then the shards no
    compaction holds yet (all of them after a crash; none after a finished run)."""
    manifest = read_manifest(records_dir, kind)
    if manifest is None:
        return shard_paths(records_dir, kind)
    compacted = [compacted_dir(records_dir, kind) / name for name in manifest.files]
    return compacted + [p for p in shard_paths(records_dir, kind) if p.name not in manifest.sources]


def read_records(records_dir: str | Path, kind: str, columns: Iterable[str] | None = None) -> pa.Table:
    """Every record of one kind as one in-memory table (empty, with the right schema, when there is none).
    For small runs and tests: analysis never loads a whole run (see harness.analysis.scan)."""
    schema = SCHEMAS[kind]
    paths = record_files(records_dir, kind)
    cols = list(columns) if columns is not None else None
    if not paths:
        empty = schema.empty_table()
        return empty.select(cols) if cols else empty
    import pyarrow.dataset as ds

    return ds.dataset([str(p) for p in paths], schema=schema, format="parquet").to_table(columns=cols)
