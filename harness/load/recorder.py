"""The record sink of a load process: rows go to its own Parquet shards (flushed about once a second by
the caller) and, as Locust request events, to Locust's own statistics. In a web UI session each test
writes into its own run directory (`switch`)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from harness.contract import AttemptRow, OperationRow
from harness.records import ShardWriter

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
        self._fire(row["method"], f"{row['flow']}.{row['step']}", row, row["bytes"])

    def operation(self, row: OperationRow) -> None:
        self.operations.append(row)
        self._fire("OP", f"{row['flow']}.{row['step']}", row, 0)

    def flush(self) -> int:
        return self.attempts.flush() + self.operations.flush()

    def warm_up(self) -> None:
        """The first Parquet write costs ~170 ms (codec set-up) and would stall every greenlet, the fault
        timeline's included, in the middle of the run: pay it at start-up, into memory."""
        import io

        import pyarrow.parquet as pq

        for writer in (self.attempts, self.operations):
            pq.write_table(writer.schema.empty_table(), io.BytesIO(), compression="zstd")

    def _fire(self, request_type: str, name: str, row: AttemptRow | OperationRow, length: int) -> None:
        if self._request_event is None:
            return
        failed = row["outcome"] != "ok"
        self._request_event.fire(
            request_type=request_type,
            name=name,
            response_time=row["latency_ms"],
            response_length=length,
            exception=AttemptFailed(f"{row['outcome']} (status {row['status']})") if failed else None,
            context={"op_id": row["op_id"], "phase": row["phase"]},
            start_time=row["ts"],
        )
