"""Compaction: a run's shards become a few time-sorted files, the report reads either layout alike, and a
crash at any step of a compaction leaves a run directory that reads the same."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq

from harness.analysis.compact import compact
from harness.analysis.frames import load_run
from harness.analysis.summary import build_summary
from harness.records import ShardWriter, read_manifest, read_records, record_files, shard_paths
from tests.unit.analysis.synthetic import T0, full_row, write_run

KINDS = ("attempts", "operations")


def op(**fields):
    """An ok operation record of 1 ms, every other column null unless given."""
    return full_row("operations", {"outcome": "ok", "latency_ms": 1.0} | fields)


def counts(run_dir):
    with load_run(run_dir) as run:
        return run.stats.count("attempt"), run.stats.count("operation")


def test_compaction_leaves_a_few_time_sorted_files_and_no_shard(run_dir):
    before = {kind: read_records(run_dir / "records", kind).to_pandas() for kind in KINDS}
    done = {c.kind: c for c in compact(run_dir)}
    assert (done["attempts"].shards, done["attempts"].rows) == (3, 410)
    assert (done["operations"].shards, done["operations"].rows) == (3, 300)
    for kind in KINDS:
        assert not shard_paths(run_dir / "records", kind)
        (path,) = record_files(run_dir / "records", kind)
        assert path == run_dir / "records" / kind / "part-0001-0000.parquet"
        ts = pq.read_table(path, columns=["ts"]).column("ts").to_numpy()
        assert np.all(np.diff(ts) >= 0)
        after = read_records(run_dir / "records", kind).to_pandas()
        expected = before[kind].sort_values("ts", kind="stable", ignore_index=True)
        assert after.equals(expected)  # every record, in the order analysis always gave them
        manifest = json.loads((run_dir / "records" / kind / "MANIFEST.json").read_text())
        assert manifest["rows"] == len(after) and len(manifest["sources"]) == 3


def test_the_report_reads_either_layout_alike(run_dir):
    shards = build_summary(run_dir)
    compact(run_dir)
    assert build_summary(run_dir) == shards


def test_a_long_run_is_sorted_a_time_range_at_a_time_into_as_many_files(run_dir, monkeypatch):
    from harness.analysis import compact as compaction

    before = read_records(run_dir / "records", "operations").to_pandas()
    shards = build_summary(run_dir)
    monkeypatch.setattr(compaction, "FILE_ROWS", 50)  # five seconds of the synthetic run's operations
    compact(run_dir)
    files = record_files(run_dir / "records", "operations")
    assert [p.name for p in files] == [f"part-0001-{i:04d}.parquet" for i in range(6)]
    last = -np.inf
    for path in files:
        ts = pq.read_table(path, columns=["ts"]).column("ts").to_numpy()
        assert ts.size <= 50 and np.all(np.diff(ts) >= 0) and ts[0] >= last
        last = ts[-1]
    after = read_records(run_dir / "records", "operations").to_pandas()
    assert after.equals(before.sort_values("ts", kind="stable", ignore_index=True))
    assert build_summary(run_dir) == shards


def test_equal_timestamps_keep_the_order_of_their_shards(tmp_path):
    run_dir = write_run(tmp_path, records=False)
    for node in ("n2", "n1"):  # shard names sort n1 first, whatever order they were written in
        writer = ShardWriter(run_dir / "records", "operations", node)
        for i in range(3):
            writer.append(op(ts=T0 + 1.0, op_id=f"{node}-{i}"))
        writer.append(op(ts=T0 + 0.5, op_id=f"{node}-early"))
        writer.flush()
    compact(run_dir)
    order = read_records(run_dir / "records", "operations").column("op_id").to_pylist()
    assert order == ["n1-early", "n2-early", "n1-0", "n1-1", "n1-2", "n2-0", "n2-1", "n2-2"]


def test_a_compaction_that_died_before_its_manifest_is_ignored_then_redone(run_dir):
    directory = run_dir / "records" / "attempts"
    directory.mkdir(parents=True)
    (directory / ".part-0001-0001.parquet.tmp").write_bytes(b"half a file")
    shutil.copy(shard_paths(run_dir / "records", "attempts")[0], directory / "part-0001-0000.parquet")
    assert read_manifest(run_dir / "records", "attempts") is None
    assert counts(run_dir) == (410, 300)  # the orphan part file holds nothing the reader counts
    compact(run_dir)
    assert sorted(p.name for p in directory.iterdir()) == ["MANIFEST.json", "part-0001-0000.parquet"]
    assert counts(run_dir) == (410, 300)


def test_shards_a_committed_manifest_holds_are_not_counted_twice(run_dir):
    saved = run_dir.parent / "saved"
    shutil.copytree(run_dir / "records", saved)
    compact(run_dir)
    for shard in saved.glob("*.parquet"):  # as if the process died before deleting them
        shutil.copy(shard, run_dir / "records" / shard.name)
    assert counts(run_dir) == (410, 300)
    assert compact(run_dir) == []  # nothing new; the leftovers go
    assert not shard_paths(run_dir / "records", "attempts")


def test_shards_written_after_a_compaction_are_read_and_merged_by_the_next(run_dir):
    compact(run_dir)
    writer = ShardWriter(run_dir / "records", "operations", "late")
    writer.append(op(ts=T0 + 5.5, op_id="late", phase="baseline"))
    writer.flush()
    assert counts(run_dir) == (410, 301)
    (again,) = compact(run_dir)
    assert (again.kind, again.shards, again.rows) == ("operations", 1, 301)
    manifest = read_manifest(run_dir / "records", "operations")
    assert manifest is not None and manifest.generation == 2 and manifest.files == ("part-0002-0000.parquet",)
    assert sorted(p.name for p in (run_dir / "records" / "operations").glob("*.parquet")) == list(manifest.files)
    assert counts(run_dir) == (410, 301)


def test_a_run_without_records_has_nothing_to_compact(tmp_path):
    run_dir = write_run(tmp_path, records=False)
    assert compact(run_dir) == []
