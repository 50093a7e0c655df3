"""Locustfile of the harness: `locust -f harness/load/locustfile.py --harness-runtime RUN_DIR/runtime.json`.

`harness run` starts Locust on this file; the scenario, the target's address and where records go come
from the runtime file the orchestrator wrote. Everything Locust-specific lives in `HarnessPlugin`, bound
to the environment by `register()` (no module-level state besides the two Locust classes).
"""

from __future__ import annotations

import os
import random
from typing import Any

import gevent
import locust
from locust import LoadTestShape, User, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.clients import Caller, RetryPolicy
from harness.clients.flows import FLOWS, ClientCredentials
from harness.clients.transport import make_session
from harness.faults import FaultApplier
from harness.load.recorder import Recorder
from harness.load.shape import target_at
from harness.load.timeline import JsonLines, Timeline
from harness.run.runtime import SECRET_ENV, Runtime
from harness.scenario import Scenario, load_scenario

FLUSH_INTERVAL_S = 1.0
PLUGIN_ATTR = "harness_plugin"


class HarnessPlugin:
    """Everything the harness adds to one Locust process: records, the fault timeline, the scenario."""

    def __init__(self, environment: Environment, runtime: Runtime, scenario: Scenario):
        self.environment, self.runtime, self.scenario = environment, runtime, scenario
        runner = environment.runner
        self.is_worker = isinstance(runner, WorkerRunner)
        self.is_master = isinstance(runner, MasterRunner)
        self.node = f"worker-{getattr(runner, 'client_id', os.getpid())}" if self.is_worker else "local"
        self.credentials = ClientCredentials(runtime.client_id, os.environ.get(SECRET_ENV, ""))
        self.policy = RetryPolicy(scenario.retry)
        self.recorder: Recorder | None = None
        if not self.is_master:
            records_dir = os.path.join(runtime.run_dir, "records")
            self.recorder = Recorder(records_dir, self.node, environment.events.request)
        self.timeline: Timeline | None = None
        self._timeline_log: JsonLines | None = None
        self._greenlets: list[gevent.Greenlet] = []
        self._users_made = 0

    # --- wiring ----------------------------------------------------------------------------------

    def register(self) -> None:
        setattr(self.environment, PLUGIN_ATTR, self)
        ev = self.environment.events
        ev.test_start.add_listener(self.on_test_start)
        ev.test_stop.add_listener(self.on_test_stop)
        ev.quitting.add_listener(self.on_quitting)
        if self.recorder is not None:
            self._greenlets.append(gevent.spawn(self._flush_loop))

    @staticmethod
    def of(environment: Environment) -> HarnessPlugin:
        plugin: HarnessPlugin = getattr(environment, PLUGIN_ATTR)
        return plugin

    # --- events ----------------------------------------------------------------------------------

    def on_test_start(self, **_: Any) -> None:
        if self.is_worker or self.timeline is not None:
            return  # the timeline runs once, in the master or the single local process
        applier = None
        if self.runtime.proxy_api and self.runtime.proxy_name:
            from harness.proxy.client import ToxiproxyClient

            applier = FaultApplier(ToxiproxyClient(self.runtime.proxy_api), self.runtime.proxy_name)
        self._timeline_log = JsonLines(os.path.join(self.runtime.run_dir, "timeline.jsonl"))
        run_id = os.path.basename(os.path.normpath(self.runtime.run_dir)).split("-")[0].lower()
        self.timeline = Timeline(self.scenario.phases, applier, self._timeline_log, sleep=gevent.sleep, run_id=run_id)
        self._greenlets.append(gevent.spawn(self.timeline.run))

    def on_test_stop(self, **_: Any) -> None:
        if self.timeline is not None:
            self.timeline.stop()
        if self.recorder is not None:
            self.recorder.flush()

    def on_quitting(self, **_: Any) -> None:
        self.on_test_stop()
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        if self._timeline_log is not None:
            self._timeline_log.close()

    def _flush_loop(self) -> None:
        assert self.recorder is not None
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            self.recorder.flush()

    # --- what users and the shape ask for --------------------------------------------------------

    def current_phase(self) -> str:
        return self.timeline.current_phase if self.timeline is not None else self.scenario.phases[0].name

    def new_user_rng(self) -> tuple[int, random.Random]:
        self._users_made += 1
        # string seeds hash deterministically (unlike tuples under PYTHONHASHSEED)
        return self._users_made, random.Random(f"{self.runtime.seed}:{self.node}:{self._users_made}")


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--harness-runtime",
        default=os.environ.get("HARNESS_RUNTIME", ""),
        help="runtime.json written by `harness run` (scenario, target address, run directory)",
        include_in_web_ui=False,
    )


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    path = environment.parsed_options.harness_runtime if environment.parsed_options else ""
    if not path:
        raise SystemExit("harness: --harness-runtime (or HARNESS_RUNTIME) is required; use `harness run`")
    runtime = Runtime.load(path)
    HarnessPlugin(environment, runtime, load_scenario(runtime.scenario_file)).register()


class SsoUser(User):
    """One simulated client running the scenario's weighted mix of SSO journeys."""

    def on_start(self) -> None:
        plugin = HarnessPlugin.of(self.environment)
        index, self.rng = plugin.new_user_rng()
        scenario = plugin.scenario
        self.think_time_s = scenario.load.think_time_s
        assert plugin.recorder is not None
        self.session = make_session()
        caller = Caller(
            self.session,
            plugin.policy,
            plugin.recorder,
            user=f"{plugin.node}-u{index}",
            node=plugin.node,
            phase=plugin.current_phase,
        )
        self.flows = [FLOWS[f.flow](caller, plugin.runtime.base_url, plugin.credentials) for f in scenario.flows]
        self.weights = [f.weight for f in scenario.flows]

    def on_stop(self) -> None:
        self.session.close()

    def wait_time(self) -> float:
        low, high = self.think_time_s
        return self.rng.uniform(low, high)

    @task
    def journey(self) -> None:
        flow = self.rng.choices(self.flows, weights=self.weights)[0]
        flow.run()


class ScenarioShape(LoadTestShape):
    """Users over time as the scenario's phases say; the test ends when the last phase does."""

    def tick(self) -> tuple[int, float] | None:
        plugin = HarnessPlugin.of(self.runner.environment) if self.runner else None
        if plugin is None:
            return None
        return target_at(plugin.scenario, self.get_run_time())


__all__ = ["HarnessPlugin", "ScenarioShape", "SsoUser", "locust"]
