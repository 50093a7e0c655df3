"""Shards come home whole: a worker's Outbox sends its closed shards in chunks, the master's Inbox puts
them back under the same name, refuses what is not the sender's own shard, and says where to resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.contract import ShardChunk
from harness.load import shipping
from harness.load.shipping import Inbox, Outbox
from harness.records import OPERATION_SCHEMA, ShardWriter, read_records


def write_shards(directory: Path, node: str, shards: int, rows: int = 50) -> None:
    writer = ShardWriter(directory, "operations", node)
    for s in range(shards):
        for i in range(rows):
            row: dict[str, Any] = {name: None for name in OPERATION_SCHEMA.names}
            row |= {"ts": 1000.0 + s + i / rows, "op_id": f"{node}-{s}-{i}", "flow": "f", "step": "s", "attempts": 1,
                    "outcome": "ok", "status": 200, "latency_ms": 1.0, "backoff_ms": 0.0, "phase": "p",
                    "user": "u", "node": node}  # fmt: skip
            writer.append(row)
        writer.flush()


def ship(outbox: Outbox, inbox: Inbox, node: str, drop: int | None = None) -> int:
    """Everything pending, chunk by chunk, answering each with the inbox's ack; `drop`: lose that chunk."""
    sent = 0
    for name, size in outbox.pending():
        for chunk in outbox.chunks(name, size):
            sent += 1
            if sent == drop:
                continue
            outbox.ack(inbox.receive(node, chunk))
    return sent


def test_every_shard_arrives_byte_for_byte_in_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shipping, "CHUNK_BYTES", 300)  # several chunks per shard
    worker, home = tmp_path / "worker", tmp_path / "home"
    write_shards(worker, "w-a", 3)
    outbox, inbox = Outbox(worker, "w-a"), Inbox(home)
    assert ship(outbox, inbox, "w-a") > 3
    assert outbox.pending() == []
    manifest = outbox.manifest()
    assert len(manifest) == 3 and inbox.missing("w-a", manifest) == []
    assert {p.name: p.read_bytes() for p in home.glob("*.parquet")} == {
        p.name: p.read_bytes() for p in worker.glob("*.parquet")
    }
    assert read_records(home, "operations").num_rows == 150
    assert inbox.holds("w-a") == (3, sum(manifest.values()))
    assert not list(home.glob(".*"))  # no part file left behind


def test_a_lost_chunk_is_resent_from_where_the_master_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shipping, "CHUNK_BYTES", 300)
    worker, home = tmp_path / "worker", tmp_path / "home"
    write_shards(worker, "w-a", 1)
    outbox, inbox = Outbox(worker, "w-a"), Inbox(home)
    ship(outbox, inbox, "w-a", drop=2)  # the second chunk never arrives; the third is refused, out of order
    assert outbox.pending() and not list(home.glob("*.parquet"))
    before = outbox.progress()
    ship(outbox, inbox, "w-a")  # the next round resumes at the master's offset
    assert outbox.progress() != before and outbox.pending() == []
    (name,) = outbox.manifest()
    assert (home / name).read_bytes() == (worker / name).read_bytes()


def chunk(name: str, data: bytes = b"x", offset: int = 0, size: int = 1) -> ShardChunk:
    return {"name": name, "offset": offset, "size": size, "data": data}


@pytest.mark.parametrize(
    "name",
    [
        "operations-w-b-000001.parquet",  # another node's shard
        "../operations-w-a-000001.parquet",  # a path
        "operations-w-a-000001.parquet/../../x",
        "secrets-w-a-000001.parquet",  # not a record kind
        "operations-w-a-1.parquet",
    ],
)
def test_the_master_accepts_only_the_senders_own_shards(tmp_path: Path, name: str) -> None:
    inbox = Inbox(tmp_path)
    ack = inbox.receive("w-a", chunk(name))
    assert ack["error"] and not ack["done"]
    assert list(tmp_path.rglob("*")) == []


def test_sizes_that_do_not_add_up_are_refused(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    assert inbox.receive("w-a", chunk("attempts-w-a-000001.parquet", b"abc", size=2))["error"]
    assert inbox.receive("w-a", chunk("attempts-w-a-000001.parquet", size=shipping.MAX_SHARD_BYTES + 1))["error"]


def test_a_shard_sent_again_is_acknowledged_without_writing(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    name = "attempts-w-a-000001.parquet"
    assert inbox.receive("w-a", chunk(name, b"ab", size=2))["done"]
    again = inbox.receive("w-a", chunk(name, b"ab", size=2))
    assert again["done"] and again["error"] is None
    other = inbox.receive("w-a", chunk(name, b"abc", size=3))
    assert not other["done"] and "another size" in str(other["error"])
    assert (tmp_path / name).read_bytes() == b"ab"


def test_missing_lists_what_the_worker_wrote_and_the_master_does_not_hold(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path)
    inbox.receive("w-a", chunk("attempts-w-a-000001.parquet"))
    manifest = {"attempts-w-a-000001.parquet": 1, "attempts-w-a-000002.parquet": 7}
    assert inbox.missing("w-a", manifest) == ["attempts-w-a-000002.parquet"]
