"""Master and worker duties over Locust's own messages: who joins (hello, version check, the run's setup
for a remote worker), the run directory of each web UI test, noticing a worker that went missing or left,
and the stop handshake that brings every record home. Records are the only source of the live figures
(harness.run.live); a worker's reports carry just how many it made, for the note when it is lost.

Joining. Each worker says `harness_hello` (harness.contract.WorkerHello); the master's roll
(harness.load.roll) lets it in, refuses it (another version, a taken node name) or, for a remote worker
(`harness worker --master`), first sends it `harness_setup`: the scenario, the endpoints, the seed and the
current phase, never a secret. Before the first phase the master waits until `--expect-workers` are in
(`gate`), or gives up saying who came.

Stopping. The master asks every worker to stop and flush (`harness_flush`); a remote worker then sends
its shards that have not travelled yet (they also trickle home every few seconds while the run goes on,
harness.load.shipping) and answers `harness_flushed` with the list of every shard it wrote. The master
waits while records keep arriving, checks it holds each listed shard whole, writes `records_home`, and
only then releases the worker. Only then does Locust's own stop or quit go on.

Web UI tests. In a `harness ui` session the master tells the workers which run directory a test writes
to (`harness_test`) before it spawns them, so a worker's records of two tests never share a directory; a
remote worker's shards then go home into that test's `records/`, and each test releases it anew.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.lock
from locust.env import Environment
from locust.runners import STATE_MISSING, STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from harness.contract import (
    FLUSH,
    FLUSHED,
    HELLO,
    READY,
    REFUSED,
    RELEASE,
    SETUP,
    SHARD,
    SHARD_ACK,
    TEST,
    WIRE_VERSION,
    RecordsHome,
    ShardAck,
    TimelineEvent,
    WorkerFlushedMsg,
    WorkerHello,
    WorkerLost,
    WorkerSetup,
    WorkersFlushed,
    WorkersMissing,
    harness_version,
)
from harness.errors import EXIT_ABORTED, EXIT_INFRA
from harness.load.recorder import Recorder
from harness.load.roll import Roll
from harness.load.shipping import Inbox, Outbox

FLUSH_TIMEOUT_S = 10.0  # at stop: how long a worker may take to answer at all
STALL_S = 10.0  # ... and how long the master keeps waiting after the last record bytes arrived
WATCH_INTERVAL_S = 0.5
SHIP_INTERVAL_S = 2.0  # remote workers send their closed shards this often while the run goes on
SHIP_WINDOW = 4  # chunks in flight per worker (each up to shipping.CHUNK_BYTES)
ACK_TIMEOUT_S = 10.0
QUIT_SHIP_S = 5.0  # a worker leaving on its own tries this long to send what it still holds
MADE_KEY = "harness_made"  # on a worker's reports: records it made (named when the worker is lost)

log = logging.getLogger(__name__)


def hello_of(node: str, remote: bool) -> WorkerHello:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return {"node": node, "host": socket.gethostname(), "pid": os.getpid(), "cores": cores,
            "version": harness_version(), "wire": WIRE_VERSION, "remote": remote}  # fmt: skip


def quit_later(environment: Environment, code: int) -> None:
    """End this Locust process with `code`, from outside the runner's own greenlets."""
    environment.process_exit_code = code
    runner = environment.runner
    assert runner is not None
    gevent.spawn(runner.quit)


class Shipper:
    """A remote worker's side of bringing records home: sends closed shards in chunks, a few in flight."""

    def __init__(self, runner: WorkerRunner, outbox: Outbox):
        self.runner, self.outbox = runner, outbox
        self.in_flight = 0
        self._acked = gevent.event.Event()
        self._lock = gevent.lock.RLock()  # the trickle and the final send never interleave

    def switch(self, outbox: Outbox) -> None:
        """A new web UI test: from now on send the shards of its directory (never in the middle of a send)."""
        with self._lock:
            self.outbox = outbox

    def on_ack(self, environment: Environment, msg: Any, **_: Any) -> None:
        ack: ShardAck = msg.data
        self.outbox.ack(ack)
        if ack["error"]:
            log.warning("harness: the master refused a chunk: %s", ack["error"])
        self.in_flight = max(0, self.in_flight - 1)
        self._acked.set()

    def loop(self) -> None:
        while True:
            gevent.sleep(SHIP_INTERVAL_S)
            self.ship(time.monotonic() + ACK_TIMEOUT_S)

    def ship(self, deadline: float) -> bool:
        """Send every closed shard the master does not hold yet; True when it holds them all."""
        with self._lock:
            for name, size in self.outbox.pending():
                for chunk in self.outbox.chunks(name, size):
                    if not self._wait(SHIP_WINDOW - 1, deadline):
                        return False
                    self.in_flight += 1
                    self.runner.send_message(SHARD, chunk)  # type: ignore[arg-type]
            return self._wait(0, deadline) and not self.outbox.pending()

    def ship_all(self, timeout_s: float) -> bool:
        """Round after round until the master holds everything, or a round moved nothing (it is not taking
        them: gone, or refusing), or the time is up."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            before = self.outbox.progress()
            if self.ship(deadline):
                return True
            if self.outbox.progress() == before:
                break
        return not self.outbox.pending()

    def _wait(self, at_most: int, deadline: float) -> bool:
        while self.in_flight > at_most:
            self._acked.clear()
            left = deadline - time.monotonic()
            if left <= 0 or not self._acked.wait(min(left, ACK_TIMEOUT_S)):
                self.in_flight = 0  # the master is gone or lost them; the next round resumes from its acks
                return False
        return True


class WorkerSide:
    def __init__(self, environment: Environment, recorder: Recorder, node: str, remote: bool,
                 records_of: Callable[[str], str]):  # fmt: skip
        self.environment, self.recorder, self.node, self.records_of = environment, recorder, node, records_of
        runner = environment.runner
        assert isinstance(runner, WorkerRunner)
        self.runner = runner
        self.shipper = Shipper(runner, Outbox(recorder.attempts.directory, node)) if remote else None
        self.released = False

    def register(self) -> list[gevent.Greenlet]:
        self.runner.register_message(FLUSH, self._on_flush_request, concurrent=True)
        self.runner.register_message(TEST, self._on_test)
        self.environment.events.report_to_master.add_listener(self._on_report)
        if self.shipper is None:
            self.runner.send_message(HELLO, hello_of(self.node, remote=False))  # type: ignore[arg-type]
            return []
        self.runner.register_message(SHARD_ACK, self.shipper.on_ack)
        self.runner.register_message(RELEASE, self._on_release)
        return [gevent.spawn(self.shipper.loop)]

    def _on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[MADE_KEY] = self.recorder.written

    def _on_test(self, environment: Environment, msg: Any, **_: Any) -> None:
        """A web UI test begins: its records go to its own run directory (`records_of(run_id)`); a remote
        worker sends that directory's shards home from now on, and waits to be released again."""
        records_dir = self.records_of(str(msg.data))
        self.recorder.switch(records_dir)
        if self.shipper is not None:
            self.shipper.switch(Outbox(records_dir, self.node))
            self.released = False

    def _on_release(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.released = True
        print(f"harness: the master holds every record of {self.node}; released", flush=True)

    def _on_flush_request(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.runner.stop()  # stops the users; our test_stop listener flushes too, the flush below is the guarantee
        self.recorder.flush()
        self._report_flushed(ship_s=None)

    def _report_flushed(self, ship_s: float | None) -> bool:
        shards: dict[str, int] = {}
        delivered = True
        if self.shipper is not None:
            # at stop the master waits as long as records keep arriving, so keep sending until done
            delivered = self.shipper.ship_all(ship_s if ship_s is not None else 3600.0)
            shards = self.shipper.outbox.manifest()
        flushed: WorkerFlushedMsg = {"node": self.node, "written": self.recorder.written, "shards": shards}
        self.runner.send_message(FLUSHED, flushed)  # type: ignore[arg-type]
        return delivered

    def on_quitting(self) -> None:
        """Leaving: a remote worker not yet released sends what it still holds, briefly, and says where the
        rest stays. Its exit code is 1 when records did not reach the master."""
        self.recorder.flush()
        if self.shipper is None or self.released:
            return
        delivered = self._report_flushed(ship_s=QUIT_SHIP_S)
        if not delivered:
            left = len(self.shipper.outbox.pending())
            log.error("harness: %d record shards did not reach the master; they stay in %s", left,
                      self.shipper.outbox.records_dir)  # fmt: skip
            if self.environment.process_exit_code in (None, 0):
                self.environment.process_exit_code = 1


class MasterSide:
    def __init__(
        self,
        environment: Environment,
        emit: Callable[[TimelineEvent], None],
        phase: Callable[[], str],
        setup: Callable[[], WorkerSetup],
        records_dir: Path,
    ):
        self.environment, self.emit, self.phase, self.setup = environment, emit, phase, setup
        runner = environment.runner
        assert isinstance(runner, MasterRunner)
        self.runner = runner
        self.roll = Roll(harness_version())
        self.inbox = Inbox(records_dir)
        self.acks: dict[str, WorkerFlushedMsg] = {}  # client id -> its answer at stop
        self.lost: dict[str, float] = {}  # client id -> when
        self.made: dict[str, int] = {}  # client id -> records made by its last report
        self.released: set[str] = set()
        self.stopping = False

    def register(self) -> None:
        for kind, handler in ((HELLO, self._on_hello), (READY, self._on_ready), (REFUSED, self._on_declined),
                              (SHARD, self._on_shard), (FLUSHED, self._on_flushed)):  # fmt: skip
            self.runner.register_message(kind, handler)
        ev = self.environment.events
        ev.worker_report.add_listener(self._on_worker_report)
        ev.test_stopping.add_listener(self._on_test_stopping)
        ev.test_start.add_listener(self._on_test_start)

    # --- joining -----------------------------------------------------------------------------------

    def _on_hello(self, environment: Environment, msg: Any, **_: Any) -> None:
        decision, refused = self.roll.hello(msg.node_id, msg.data, time.time())
        if refused is not None:
            log.error("harness: refused worker %s on %s: %s", refused["node"], refused["host"], refused["reason"])
            self.emit(refused)
            self.runner.send_message(REFUSED, {"reason": refused["reason"]}, client_id=msg.node_id)
            self._forget(msg.node_id)
        elif decision == "setup":
            self.runner.send_message(SETUP, self.setup(), client_id=msg.node_id)  # type: ignore[arg-type]
        else:
            self.emit(self.roll.joined[msg.node_id])

    def _on_ready(self, environment: Environment, msg: Any, **_: Any) -> None:
        joined = self.roll.ready(msg.node_id, time.time())
        if joined is not None:
            self.emit(joined)

    def _on_declined(self, environment: Environment, msg: Any, **_: Any) -> None:
        refused = self.roll.declined(msg.node_id, str((msg.data or {}).get("reason")), time.time())
        if refused is not None:
            log.error("harness: worker %s on %s cannot take part: %s", refused["node"], refused["host"],
                      refused["reason"])  # fmt: skip
            self.emit(refused)
        self._forget(msg.node_id)

    def _forget(self, client_id: str) -> None:
        """A worker that is not in the run leaves Locust's list now, before its own `quit` arrives: a headless
        Locust master quits when its last worker quits, which would end a run still waiting for the others."""
        client = self.runner.clients.get(client_id)
        if client is None:
            return
        del self.runner.clients[client_id]
        dispatcher = self.runner._users_dispatcher  # what Locust's own "quit" handling does (locust 2.47)
        if dispatcher is not None:
            dispatcher.remove_worker(client)
            if not dispatcher.dispatch_in_progress and self.runner.state == STATE_RUNNING:
                self.runner.start(self.runner.target_user_count, self.runner.spawn_rate)

    def gate(self, expected: int, timeout_s: float) -> None:
        """Before the first phase: wait until `expected` workers are in. After `timeout_s` (0: forever) say who
        came, tell them to quit, and exit with the infrastructure code."""
        started = time.monotonic()
        try:
            while self.roll.count < expected:
                waited = time.monotonic() - started
                if timeout_s and waited > timeout_s:
                    missing: WorkersMissing = {"kind": "workers_missing", "ts": time.time(), "expected": expected,
                                               "joined": [w["node"] for w in self.roll.joined.values()],
                                               "waited_s": round(waited, 1)}  # fmt: skip
                    self.emit(missing)
                    log.error("harness: %d of %d workers joined within %g s", self.roll.count, expected, timeout_s)
                    self.runner.quit()
                    raise SystemExit(EXIT_INFRA)
                gevent.sleep(0.1)
        except KeyboardInterrupt:
            self.runner.quit()  # the workers that came are told to quit too
            raise SystemExit(EXIT_ABORTED) from None

    def _on_test_start(self, **_: Any) -> None:
        self.stopping = False

    def announce_test(self, run_dir: Path) -> None:
        """A web UI test begins, before the workers are spawned: where its records go (ZeroMQ keeps the
        order). Remote workers' shards come home into its `records/`; each worker is released anew. The
        test's own timeline (just opened) learns who is in, so its journal and report name them."""
        self.inbox = Inbox(run_dir / "records")
        self.released.clear()
        self.runner.send_message(TEST, run_dir.name)  # type: ignore[arg-type]  # any msgpack value travels
        for client_id, joined in self.roll.joined.items():
            if client_id not in self.lost and client_id in self.runner.clients:
                self.emit(joined)

    # --- while running -------------------------------------------------------------------------------

    def watch(self) -> None:
        """Forever: report each worker that stops answering heartbeats or quits before it was released, once
        (the run goes on with the others)."""
        while True:
            gevent.sleep(WATCH_INTERVAL_S)
            running = self.runner.state in (STATE_RUNNING, STATE_SPAWNING) and not self.stopping
            for client_id in list(self.roll.joined):
                if client_id in self.lost or client_id in self.released:
                    continue
                client = self.runner.clients.get(client_id)
                if client is not None and client.state == STATE_MISSING:
                    self._lost(client_id, "missing")
                elif client is None and running:
                    self._lost(client_id, "left")

    def _lost(self, client_id: str, how: Any) -> None:
        self.lost[client_id] = time.time()
        node = self.roll.node_of(client_id)
        log.warning("harness: worker %s lost (%s)", node, how)
        event: WorkerLost = {"kind": "worker_lost", "node": node, "phase": self.phase(), "ts": self.lost[client_id],
                             "workers_left": self.runner.worker_count, "how": how}  # fmt: skip
        if client_id in self.made:
            event["made"] = self.made[client_id]
        self.emit(event)

    def _on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if MADE_KEY in data:
            self.made[client_id] = int(data[MADE_KEY])

    def _on_shard(self, environment: Environment, msg: Any, **_: Any) -> None:
        if not self.roll.remote(msg.node_id):
            ack: ShardAck = {"name": str(msg.data.get("name")), "end": 0, "done": False,
                             "error": "only a remote worker that joined sends shards"}  # fmt: skip
        else:
            ack = self.inbox.receive(self.roll.node_of(msg.node_id), msg.data)
        self.runner.send_message(SHARD_ACK, ack, client_id=msg.node_id)  # type: ignore[arg-type]

    def _on_flushed(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.acks[msg.node_id] = msg.data

    # --- stopping ------------------------------------------------------------------------------------

    def _on_test_stopping(self, **_: Any) -> None:
        self.stopping = True
        if not self.roll.joined:
            return
        connected = {c.id for c in self.runner.clients.values() if c.state != STATE_MISSING}
        expected = connected & set(self.roll.joined)
        # a worker that left on its own may have answered already (with the list of its shards): keep that
        self.acks = {cid: a for cid, a in self.acks.items() if cid not in expected}
        if expected:
            self.runner.send_message(FLUSH, None)
            self._wait_for(expected)
        missing = expected - set(self.acks)
        event: WorkersFlushed = {
            "kind": "workers_flushed",
            "ts": time.time(),
            "acks": len(expected) - len(missing),
            "expected": len(expected),
            "written": sum(int(a.get("written", 0)) for cid, a in self.acks.items() if cid in expected),
        }
        event["by_node"] = {self.roll.node_of(cid): int(a.get("written", 0)) for cid, a in self.acks.items()}
        if missing:
            event["missing"] = sorted(self.roll.node_of(cid) for cid in missing)
        self.emit(event)
        self._records_home()

    def _wait_for(self, expected: set[str]) -> None:
        """Until every expected worker answered: at least FLUSH_TIMEOUT_S, longer while shard bytes arrive."""
        started = last_progress = time.monotonic()
        seen = self.inbox.bytes_received
        while not expected <= set(self.acks):
            now = time.monotonic()
            if self.inbox.bytes_received != seen:
                seen, last_progress = self.inbox.bytes_received, now
            if now - started > FLUSH_TIMEOUT_S and now - last_progress > STALL_S:
                return
            gevent.sleep(0.05)

    def _records_home(self) -> None:
        """For each remote worker: does the master hold every shard it wrote? Release those it does."""
        for client_id, who in self.roll.joined.items():
            if not who["remote"]:
                continue
            ack = self.acks.get(client_id)
            node = who["node"]
            files, size = self.inbox.holds(node)
            missing = self.inbox.missing(node, ack["shards"]) if ack is not None else []
            complete = ack is not None and not missing
            home: RecordsHome = {"kind": "records_home", "ts": time.time(), "node": node, "files": files,
                                 "bytes": size, "complete": complete, "missing": missing}  # fmt: skip
            self.emit(home)
            if complete and client_id in self.runner.clients:
                self.released.add(client_id)
                self.runner.send_message(RELEASE, None, client_id=client_id)
