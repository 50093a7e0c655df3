"""Compaction: a kind's shards (one small Parquet file per load process and second) become a few large files
sorted by time, `records/<kind>/part-<generation>-<n>.parquet`, with row groups sized for the scans of
`harness.analysis.scan`.

Rows keep the order analysis has always given them: by `ts`, ties in shard order then row order, so a
seeded sample drawn by position picks the same records from either layout. The new files are written first,
then the manifest that lists them and the shards they replace (the commit point, see `harness.records`),
and only then are the shards deleted: a crash at any step leaves a run directory that reads the same.
Compacting again after more shards arrived merges them with the files already compacted.

`compact(run_dir)` is the hook the end of a run calls (after the load processes have flushed and exited,
before the report); `harness report` reads either layout, so a run that crashed before it still reports.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.scan import connect, parquet_source
from harness.records import (
    SCHEMAS,
    Manifest,
    compacted_dir,
    read_manifest,
    shard_paths,
    write_manifest,
)

RECORDS_DIR = "records"
# Row groups are the unit of parallel and of time-pruned scans (their ts statistics skip whole groups);
# 256Ki rows is a few MB compressed. 32 of them a file (8Mi rows) keeps a day-long soak to a few files.
ROW_GROUP_ROWS = 262_144
ROW_GROUPS_PER_FILE = 32


@dataclass(frozen=True)
class Compaction:
    kind: str
    shards: int  # shards folded in by this compaction
    rows: int  # rows of the kind after it
    files: tuple[Path, ...]
    seconds: float


def compact(run_dir: str | Path) -> list[Compaction]:
    """Compact every kind of record of a run directory; a kind with no new shard is left as it is (but what
    an interrupted compaction left behind is cleaned up). Returns what was done, one entry per kind."""
    records_dir = Path(run_dir) / RECORDS_DIR
    done: list[Compaction] = []
    if not records_dir.is_dir():
        return done
    with connect() as con:
        for kind in SCHEMAS:
            found = compact_kind(con, records_dir, kind)
            if found is not None:
                done.append(found)
    return done


def compact_kind(con: object, records_dir: Path, kind: str) -> Compaction | None:
    started = time.perf_counter()
    manifest = read_manifest(records_dir, kind)
    directory = compacted_dir(records_dir, kind)
    old_files = [directory / name for name in manifest.files] if manifest else []
    shards = [p for p in shard_paths(records_dir, kind) if manifest is None or p.name not in manifest.sources]
    _clean_leftovers(records_dir, kind, manifest)
    if not shards:
        return None
    generation = manifest.generation + 1 if manifest else 1
    staging = directory / f".staging-{generation}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    inputs = old_files + shards  # record order: what was compacted before, then the new shards by name
    columns = ", ".join(f'CAST("{f.name}" AS {_SQL_TYPES[str(f.type)]}) AS "{f.name}"' for f in SCHEMAS[kind])
    con.execute(  # type: ignore[attr-defined]
        f"COPY (SELECT {columns} FROM {parquet_source(inputs)} ORDER BY ts, file_index, file_row_number) "
        f"TO '{_quote(staging)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS}, "
        f"ROW_GROUPS_PER_FILE {ROW_GROUPS_PER_FILE}, FILENAME_PATTERN 'part-{{i}}')"
    )
    written = sorted(staging.glob("part-*.parquet"), key=lambda p: int(p.stem.split("-")[1]))
    files = []
    for i, path in enumerate(written):
        final = directory / f"part-{generation:04d}-{i:04d}.parquet"
        path.replace(final)
        files.append(final)
    staging.rmdir()
    rows = int(con.execute(f"SELECT count(*) FROM {parquet_source(files)}").fetchone()[0]) if files else 0  # type: ignore[attr-defined]
    sources = (manifest.sources if manifest else frozenset()) | {p.name for p in shards}
    write_manifest(records_dir, kind, Manifest(generation, tuple(p.name for p in files), sources, rows))
    for path in [*shards, *old_files]:
        path.unlink(missing_ok=True)
    return Compaction(kind, len(shards), rows, tuple(files), time.perf_counter() - started)


def _clean_leftovers(records_dir: Path, kind: str, manifest: Manifest | None) -> None:
    """Shards a committed manifest already holds, and part files or staging directories no manifest lists
    (an earlier compaction that died half-way)."""
    directory = compacted_dir(records_dir, kind)
    if manifest is not None:
        for name in manifest.sources:
            (records_dir / name).unlink(missing_ok=True)
    if not directory.is_dir():
        return
    listed = set(manifest.files) if manifest else set()
    for path in directory.iterdir():
        if path.name.startswith(".staging-"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.suffix == ".parquet" and path.name not in listed:
            path.unlink(missing_ok=True)


_SQL_TYPES = {"double": "DOUBLE", "string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT"}


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
