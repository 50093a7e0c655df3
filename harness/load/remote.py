"""A worker started by `harness worker --master HOST:PORT`: it has nothing but the master's address. It
says hello, waits for the run's setup (harness.contract.WorkerSetup: scenario, endpoints, seed, current
phase), writes its own copy of the run under WORK_DIR/<run id>-<node>/ and only then builds the harness
plugin. Secrets never come from the master: the worker reads them from its own environment, under the
names the master uses (harness.clients.flows.credential_variables); when one is missing it declines,
saying which, and quits with exit code 2, so the master's journal says why it did not join.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import locust.runners
from locust.env import Environment
from locust.runners import WorkerRunner

from harness.contract import HELLO, READY, REFUSED, SETUP, Env, Runtime, WorkerSetup
from harness.errors import EXIT_BAD_INPUT, EXIT_INFRA
from harness.load.distributed import hello_of, quit_later
from harness.load.runcopy import prepare_run
from harness.scenario import Scenario

DEFAULT_MASTER_TIMEOUT_S = 20.0  # a remote worker quits after this long without its master

Start = Callable[[Environment, Runtime, Scenario, WorkerSetup], None]

log = logging.getLogger(__name__)


def join_remote(environment: Environment, work_dir: Path, node: str, start: Start) -> None:
    timeout_s = float(os.environ.get(Env.MASTER_TIMEOUT) or DEFAULT_MASTER_TIMEOUT_S)
    # Locust's worker quits after this long without a heartbeat from its master (its default: 60 s)
    locust.runners.MASTER_HEARTBEAT_TIMEOUT = max(1, round(timeout_s))

    def apply(setup: WorkerSetup) -> str | None:
        prepared = prepare_run(setup, work_dir, node)
        if isinstance(prepared, str):
            return prepared
        runtime, scenario = prepared
        start(environment, runtime, scenario, setup)
        print(f"harness: worker {node} joined run {setup['run_id']}; records in {runtime.run_dir}/records", flush=True)
        return None

    RemoteJoin(environment, node, apply, timeout_s).register()


class RemoteJoin:
    """The joining handshake: hello, then the setup (applied by `apply`, which returns why it cannot take
    part, or None), then ready; a refusal from the master ends the worker with exit code 2."""

    def __init__(self, environment: Environment, node: str, apply: Callable[[WorkerSetup], str | None],
                 timeout_s: float):  # fmt: skip
        self.environment, self.node, self.apply, self.timeout_s = environment, node, apply, timeout_s
        runner = environment.runner
        assert isinstance(runner, WorkerRunner)
        self.runner = runner
        self.joined = gevent.event.Event()

    def register(self) -> None:
        self.runner.register_message(SETUP, self._on_setup)
        self.runner.register_message(REFUSED, self._on_refused, concurrent=True)
        self.runner.send_message(HELLO, hello_of(self.node, remote=True))  # type: ignore[arg-type]
        gevent.spawn(self._give_up_later)

    def _on_setup(self, environment: Environment, msg: Any, **_: Any) -> None:
        if self.joined.is_set():
            return
        problem = self.apply(msg.data)
        if problem is not None:
            log.error("harness: cannot take part in this run: %s", problem)
            self.runner.send_message(REFUSED, {"reason": problem})
            quit_later(environment, EXIT_BAD_INPUT)
            return
        self.joined.set()
        self.runner.send_message(READY, None)

    def _on_refused(self, environment: Environment, msg: Any, **_: Any) -> None:
        log.error("harness: the master refused this worker: %s", (msg.data or {}).get("reason"))
        quit_later(environment, EXIT_BAD_INPUT)

    def _give_up_later(self) -> None:
        if not self.joined.wait(self.timeout_s):
            log.error("harness: the master sent no setup within %g s (is it a `harness run` master?)", self.timeout_s)
            quit_later(self.environment, EXIT_INFRA)
