"""Bringing a remote worker's record shards home: what the worker still has to send (`Outbox`) and how
the master puts the chunks back together in the run's `records/` (`Inbox`).

Shards stay the unit: a worker sends each closed `<kind>-<node>-<seq>.parquet` (harness.records) as it is,
in chunks of at most `CHUNK_BYTES` (Locust's ZeroMQ messages freeze a process for the time a large one
takes; about 1 MB is the safe size), and the master writes it under the same name, renamed into place
once whole, so a reader of `records/` never sees half a shard. The master accepts only names of the
sender's own node (no path, no other node's shard), in order, and answers each chunk with how much of the
shard it holds, so a worker that lost a message resumes where the master is.

Pure file logic (no gevent, no Locust): harness.load.distributed moves the messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from harness.contract import ShardAck, ShardChunk

CHUNK_BYTES = 512 * 1024
MAX_SHARD_BYTES = 1 << 30  # a shard is one second of one process's records: far below this
SHARD_NAME = re.compile(r"^(?:attempts|operations)-(?P<node>[A-Za-z0-9_.-]{1,64})-\d{6}\.parquet$")


def shard_node(name: str) -> str | None:
    """The node a shard file name belongs to, or None when it is not a shard name."""
    found = SHARD_NAME.fullmatch(name)
    return found.group("node") if found else None


class Outbox:
    """The worker's side: its closed shards, and how far the master has acknowledged each."""

    def __init__(self, records_dir: str | Path, node: str):
        self.records_dir, self.node = Path(records_dir), node
        self.acked: dict[str, int] = {}  # name -> bytes the master holds
        self.done: set[str] = set()

    def manifest(self) -> dict[str, int]:
        """Every closed shard of this node, name -> size (what the master must end up holding)."""
        out = {}
        for path in sorted(self.records_dir.glob(f"*-{self.node}-*.parquet")):
            if shard_node(path.name) == self.node:
                out[path.name] = path.stat().st_size
        return out

    def pending(self) -> list[tuple[str, int]]:
        return [(name, size) for name, size in self.manifest().items() if name not in self.done]

    def chunks(self, name: str, size: int) -> Iterator[ShardChunk]:
        """The rest of one shard from where the master is, in chunks (one read each, as they are sent)."""
        offset = self.acked.get(name, 0)
        with open(self.records_dir / name, "rb") as f:
            f.seek(offset)
            while offset < size:
                data = f.read(min(CHUNK_BYTES, size - offset))
                if not data:
                    return
                yield {"name": name, "offset": offset, "size": size, "data": data}
                offset += len(data)

    def progress(self) -> tuple[int, int]:
        """Changes whenever the master acknowledges anything (for telling a stalled master from a slow one)."""
        return len(self.done), sum(self.acked.values())

    def ack(self, ack: ShardAck) -> None:
        self.acked[ack["name"]] = ack["end"]
        if ack["done"]:
            self.done.add(ack["name"])


class Inbox:
    """The master's side: chunks from remote workers become shards in `records_dir`."""

    def __init__(self, records_dir: str | Path):
        self.records_dir = Path(records_dir)
        self.records_dir.mkdir(parents=True, exist_ok=True)
        self.held: dict[str, dict[str, int]] = {}  # node -> whole shards it holds, name -> size
        self.bytes_received = 0  # progress, for the wait at stop

    def receive(self, node: str, chunk: ShardChunk) -> ShardAck:
        name, offset, size, data = chunk["name"], chunk["offset"], chunk["size"], chunk["data"]
        if shard_node(name) != node:
            return self._ack(name, 0, False, f"{name!r} is not a shard name of node {node}")
        if not 0 <= size <= MAX_SHARD_BYTES or offset + len(data) > size:
            return self._ack(name, 0, False, f"{name}: size {size} and chunk at {offset} do not fit")
        final = self.records_dir / name
        part = self.records_dir / f".{name}.part"
        if final.exists():  # sent again (a lost acknowledgement): the same bytes, nothing to write
            same = final.stat().st_size == size
            return self._ack(name, size if same else 0, same, None if same else f"{name} exists with another size")
        have = part.stat().st_size if part.exists() else 0
        if offset != have:  # a chunk went missing on the way: tell the worker where to resume
            return self._ack(name, have, False, f"{name}: expected offset {have}, got {offset}")
        with open(part, "ab") as f:
            f.write(data)
        self.bytes_received += len(data)
        end = offset + len(data)
        if end < size:
            return self._ack(name, end, False, None)
        os.replace(part, final)
        self.held.setdefault(node, {})[name] = size
        return self._ack(name, end, True, None)

    def missing(self, node: str, manifest: dict[str, int]) -> list[str]:
        """Shards the worker says it wrote that the master does not hold whole."""
        held = self.held.get(node, {})
        return sorted(name for name, size in manifest.items() if held.get(name) != size)

    def holds(self, node: str) -> tuple[int, int]:
        """(files, bytes) held for a node."""
        held = self.held.get(node, {})
        return len(held), sum(held.values())

    @staticmethod
    def _ack(name: str, end: int, done: bool, error: str | None) -> ShardAck:
        return {"name": name, "end": end, "done": done, "error": error}
