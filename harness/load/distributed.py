"""Master and worker duties: the flush handshake at stop, the run directory of each web UI test, and
noticing a worker that went missing.

At stop the master asks every worker to stop and flush (`harness_flush`) and waits, up to
`FLUSH_TIMEOUT_S`, until each has answered `harness_flushed` with the count it wrote. Only then does
Locust's own stop or quit go on, so the workers' last records are on disk and their last request
statistics are on the way before the master's 0.5 s quit window opens. Records themselves never travel:
each worker writes its own shards where it runs (the live figures come from the shards, harness.run.live).
In a web UI session the master tells the workers which run directory a test writes to (`harness_test`)
before it spawns them, so a worker's records of two tests never share a directory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from harness.contract import TimelineEvent, WorkersFlushed
from harness.load.recorder import Recorder

FLUSH_TIMEOUT_S = 10.0
WATCH_INTERVAL_S = 0.5

log = logging.getLogger(__name__)


class WorkerSide:
    def __init__(self, environment: Environment, recorder: Recorder, node: str, records_of: Callable[[str], str]):
        self.environment, self.recorder, self.node, self.records_of = environment, recorder, node, records_of

    def register(self) -> None:
        runner = self.environment.runner
        assert isinstance(runner, WorkerRunner)
        runner.register_message("harness_flush", self._on_flush_request, concurrent=True)
        runner.register_message("harness_test", self._on_test)

    def _on_test(self, environment: Environment, msg: Any, **_: Any) -> None:
        """A web UI test begins: its records go to its own run directory (`records_of(run_id)`)."""
        self.recorder.switch(self.records_of(str(msg.data)))

    def _on_flush_request(self, environment: Environment, msg: Any, **_: Any) -> None:
        runner = environment.runner
        assert runner is not None
        runner.stop()  # stops the users; our test_stop listener flushes too, the flush below is the guarantee
        self.recorder.flush()
        runner.send_message("harness_flushed", {"node": self.node, "written": self.recorder.written})


class MasterSide:
    def __init__(self, environment: Environment, emit: Callable[[TimelineEvent], None], phase: Callable[[], str]):
        self.environment, self.emit, self.phase = environment, emit, phase
        self.acks: dict[str, dict[str, Any]] = {}
        self.lost: dict[str, float] = {}

    def register(self) -> None:
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        runner.register_message("harness_flushed", self._on_flushed)
        self.environment.events.test_stopping.add_listener(self._on_test_stopping)

    def announce_test(self, run_id: str) -> None:
        """Before the workers are spawned: where this test's records go (ZeroMQ keeps the order)."""
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        runner.send_message("harness_test", run_id)  # type: ignore[arg-type]  # any msgpack value travels

    def watch(self) -> None:
        """Forever: report each worker that stops answering heartbeats, once (the run goes on)."""
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        while True:
            gevent.sleep(WATCH_INTERVAL_S)
            for client in list(runner.clients.values()):
                if client.state == STATE_MISSING and client.id not in self.lost:
                    self.lost[client.id] = time.time()
                    log.warning("harness: worker %s lost", client.id)
                    self.emit(
                        {
                            "kind": "worker_lost",
                            "node": client.id,
                            "phase": self.phase(),
                            "ts": self.lost[client.id],
                            "workers_left": runner.worker_count,
                        }
                    )

    def _on_flushed(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.acks[msg.node_id] = msg.data

    def _on_test_stopping(self, **_: Any) -> None:
        runner = self.environment.runner
        assert isinstance(runner, MasterRunner)
        expected = {c.id for c in runner.clients.values() if c.state != STATE_MISSING}
        if not expected:
            return
        self.acks = {}
        runner.send_message("harness_flush", None)
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while not expected <= set(self.acks) and time.monotonic() < deadline:
            gevent.sleep(0.05)
        missing = expected - set(self.acks)
        event: WorkersFlushed = {
            "kind": "workers_flushed",
            "ts": time.time(),
            "acks": len(self.acks),
            "expected": len(expected),
            "written": sum(int(a.get("written", 0)) for a in self.acks.values()),
        }
        if missing:
            event["missing"] = sorted(missing)
        self.emit(event)
