"""The record sink of a load process: rows go to its own Parquet shards (flushed about once a second by
the caller) and, as Locust request events, to Locust's own statistics. In a web UI session each test
writes into its own run directory (`switch`)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from harness.contract import AttemptRow, OperationRow
from harness.records import SHARD_WRITE_OPTIONS, ShardWriter

GC_THRESHOLD = (7000, 10, 10)  # gen0 every 7,000 net allocations instead of 700


def settle_heap() -> None:
    """Once start-up is over: collect, then move every object alive now (modules, classes, the scenario)
    into the permanent generation, so that the full collections of the run no longer walk them; and
    collect the young generation ten times less often (most of a request's objects die young, before any
    collection). A load process imports Locust, pyarrow, pydantic and the harness; measured with
    gc.callbacks under 50 users on the fast transport, collections took 82 us per request (27% of the
    process's CPU; a bare FastHttpUser process: 15-19 us), 23 us frozen, 6 us frozen with this threshold.
    Objects made later are collected as usual; a cycle lives at most a few thousand allocations longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


class AttemptFailed(Exception):
    """What Locust's statistics show for a failed attempt or operation: its outcome, never a body."""


class Recorder:
    def __init__(self, records_dir: str | Path, node: str, request_event: Any | None = None):
        self.node = node
        self.attempts = ShardWriter(records_dir, "attempts", node)
        self.operations = ShardWriter(records_dir, "operations", node)
        self._request_event = request_event

    def switch(self, records_dir: str | Path) -> None:
        """From now on, write into `records_dir` (a new test of a web UI session); what was buffered goes
        where it belongs first."""
        self.flush()
        self.attempts = ShardWriter(records_dir, "attempts", self.node)
        self.operations = ShardWriter(records_dir, "operations", self.node)

    @property
    def written(self) -> int:
        return self.attempts.written + self.operations.written

    def attempt(self, row: AttemptRow) -> None:
        self.attempts.append(row)
        if self._request_event is not None:
            self._fire(self._request_event, row["method"], row, row["bytes"])

    def operation(self, row: OperationRow) -> None:
        self.operations.append(row)
        if self._request_event is not None:
            self._fire(self._request_event, "OP", row, 0)

    def flush(self) -> int:
        return self.attempts.flush() + self.operations.flush()

    def warm_up(self) -> None:
        """The first Parquet write costs ~170 ms (codec set-up) and would stall every greenlet, the fault
        timeline's included, in the middle of the run: pay it at start-up, into memory."""
        import io

        import pyarrow.parquet as pq

        for writer in (self.attempts, self.operations):
            pq.write_table(writer.schema.empty_table(), io.BytesIO(), **SHARD_WRITE_OPTIONS)

    @staticmethod
    def _fire(event: Any, request_type: str, row: AttemptRow | OperationRow, length: int) -> None:
        outcome = row["outcome"]
        event.fire(
            request_type=request_type, name=f"{row['flow']}.{row['step']}", response_time=row["latency_ms"],
            response_length=length,
            exception=None if outcome == "ok" else AttemptFailed(f"{outcome} (status {row['status']})"),
            context={"op_id": row["op_id"], "phase": row["phase"]}, start_time=row["ts"],
        )  # fmt: skip
