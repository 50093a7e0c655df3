"""Compaction: a kind's shards (one small Parquet file per load process and second) become a few large files
sorted by time, `records/<kind>/part-<generation>-<n>.parquet`, with row groups sized for the scans of
`harness.analysis.scan`.

Rows keep the order analysis has always given them: by `ts`, ties in shard order then row order, so a
seeded sample drawn by position picks the same records from either layout. The sort goes a time range at
a time: one pass over `ts` counts the records of every second, the seconds are cut into ranges of about
FILE_ROWS records, and each range is sorted on its own (from the files whose time span meets it) into one
file. Each sort fits in DuckDB's memory, so nothing spills to disk however long the run.

The new files are written first, then the manifest that lists them and the shards they replace (the
commit point, see `harness.records`), and only then are the shards deleted: a crash at any step leaves a
run directory that reads the same. Compacting again after more shards arrived merges them with the files
already compacted.

`compact(run_dir)` is the hook the end of a run calls (after the load processes have flushed and exited,
before the report); `harness report` reads either layout, so a run that crashed before it still reports.
"""

from __future__ import annotations

import itertools
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
# 256Ki rows is a few MB compressed. A file is one sorted time range: 4Mi records sort within DuckDB's
# memory limit, and a day-long soak (50M records of a kind) still makes only a dozen files.
ROW_GROUP_ROWS = 262_144
FILE_ROWS = 4_194_304


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
    directory.mkdir(parents=True, exist_ok=True)
    inputs = old_files + shards  # record order: what was compacted before, then the new shards by name
    columns = ", ".join(f'CAST("{f.name}" AS {_SQL_TYPES[str(f.type)]}) AS "{f.name}"' for f in SCHEMAS[kind])
    spans = _file_spans(con, inputs)
    files, rows = [], 0
    for i, (first, last) in enumerate(_ranges(con, inputs)):
        meets = [path for path, (low, high) in zip(inputs, spans, strict=True) if _meets(low, high, first, last)]
        where = f"ts >= {first!r}::DOUBLE" if first is not None else "TRUE"
        if last is not None:
            where += f" AND ts < {last!r}::DOUBLE"
        else:
            where = f"({where} OR ts IS NULL)"
        final = directory / f"part-{generation:04d}-{i:04d}.parquet"
        staged = final.with_name(f".{final.name}.tmp")
        con.execute(  # type: ignore[attr-defined]
            f"COPY (SELECT {columns} FROM {parquet_source(meets)} WHERE {where} "
            f"ORDER BY ts, file_index, file_row_number) TO '{_quote(staged)}' "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
        )
        staged.replace(final)
        files.append(final)
    if files:
        rows = int(con.execute(f"SELECT count(*) FROM {parquet_source(files)}").fetchone()[0])  # type: ignore[attr-defined]
    sources = (manifest.sources if manifest else frozenset()) | {p.name for p in shards}
    write_manifest(records_dir, kind, Manifest(generation, tuple(p.name for p in files), sources, rows))
    for path in [*shards, *old_files]:
        path.unlink(missing_ok=True)
    return Compaction(kind, len(shards), rows, tuple(files), time.perf_counter() - started)


def _file_spans(con: object, paths: list[Path]) -> list[tuple[float | None, float | None]]:
    """First and last ts of each file (None, None: none with a time)."""
    found = dict.fromkeys(range(len(paths)), (None, None))
    rows = con.execute(  # type: ignore[attr-defined]
        f"SELECT file_index, min(ts), max(ts) FROM {parquet_source(paths)} GROUP BY file_index"
    ).fetchall()
    for index, low, high in rows:
        found[int(index)] = (low, high)
    return [found[i] for i in range(len(paths))]


def _ranges(con: object, paths: list[Path]) -> list[tuple[float | None, float | None]]:
    """Consecutive ts ranges [first, last) of about FILE_ROWS records each, cut at whole seconds (None: open
    ended). Records without a time go with the last range."""
    seconds = con.execute(  # type: ignore[attr-defined]
        f"SELECT floor(ts) AS s, count(*) FROM {parquet_source(paths)} WHERE ts IS NOT NULL GROUP BY s ORDER BY s"
    ).fetchall()
    cuts: list[float] = []
    held = 0
    for second, count in seconds:
        if held and held + count > FILE_ROWS:
            cuts.append(float(second))
            held = 0
        held += int(count)
    bounds: list[float | None] = [None, *cuts, None]
    return list(itertools.pairwise(bounds))


def _meets(low: float | None, high: float | None, first: float | None, last: float | None) -> bool:
    """Whether a file whose records span [low, high] can hold records of the range [first, last)."""
    if low is None or high is None:
        return last is None  # only null times: the last range takes them
    return (first is None or high >= first) and (last is None or low < last)


def _clean_leftovers(records_dir: Path, kind: str, manifest: Manifest | None) -> None:
    """Shards a committed manifest already holds, and part files no manifest lists, finished or not (an
    earlier compaction that died half-way)."""
    directory = compacted_dir(records_dir, kind)
    if manifest is not None:
        for name in manifest.sources:
            (records_dir / name).unlink(missing_ok=True)
    if not directory.is_dir():
        return
    listed = set(manifest.files) if manifest else set()
    for path in directory.iterdir():
        if path.name.endswith(".parquet.tmp") or (path.suffix == ".parquet" and path.name not in listed):
            path.unlink(missing_ok=True)


_SQL_TYPES = {"double": "DOUBLE", "string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT"}


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
