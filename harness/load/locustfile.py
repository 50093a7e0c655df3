"""Locustfile of the harness: `locust -f harness/load/locustfile.py --harness-runtime RUN_DIR/runtime.json`.

`harness run` and `harness ui` start Locust on this file; the scenario, the target's address and where
records go come from the runtime file the orchestrator wrote. Everything Locust-specific lives in
`HarnessPlugin`, bound to the environment by `register()` (no module-level state besides the Locust
classes). Roles: a local process or a worker makes requests and writes its own record shards; the local
process or the master runs the fault timeline and, with the web UI, gives each test its own run directory
(`uitests.py`) and serves the Resilience tab (`webui.py`); see `distributed.py` for the rest.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import locust
import locust.exception
from locust import LoadTestShape, User, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from harness.clients import Caller, RetryPolicy
from harness.clients.flows import ClientCredentials, build_flows
from harness.clients.transport import make_session, runtime_origins
from harness.contract import PHASE, Env, Runtime, ScenarioChoice, TimelineEvent, WorkerSetup
from harness.faults import FaultApplier
from harness.faults.base import ProxyFault
from harness.load import resilience, webui
from harness.load.distributed import MasterSide, WorkerSide
from harness.load.footprint import keep_stats_bounded, without_current_percentiles
from harness.load.pacing import Pacer
from harness.load.recorder import Recorder, settle_heap
from harness.load.remote import join_remote
from harness.load.shape import rate_at, target_at
from harness.load.timeline import JsonLines, Timeline
from harness.load.uitests import UiTests, form_choices, peak_load, records_dir_of
from harness.proxy.client import ToxiproxyClient
from harness.scenario import Scenario, load_scenario

FLUSH_INTERVAL_S = 1.0
PLUGIN_ATTR = "harness_plugin"
READY_ATTR = "harness_ready"  # a gevent Event, set once the plugin is registered (late for a remote worker)
JOIN_TIMEOUT_S = 60.0  # a remote worker's users wait this long for the run's setup


def node_name(runner: Any) -> str:
    if isinstance(runner, MasterRunner):
        return "master"
    if isinstance(runner, WorkerRunner):
        return os.environ.get(Env.NODE) or f"{socket.gethostname()}-{os.getpid()}"
    return os.environ.get(Env.NODE) or "local"


class HarnessPlugin:
    """Everything the harness adds to one Locust process: records, the fault timeline, the scenario."""

    def __init__(self, environment: Environment, runtime: Runtime, scenario: Scenario, remote: bool = False):
        self.environment, self.runtime, self.scenario, self.remote = environment, runtime, scenario, remote
        runner = environment.runner
        self.is_worker = isinstance(runner, WorkerRunner)
        self.is_master = isinstance(runner, MasterRunner)
        self.node = node_name(runner)
        # tenacity's jitter draws from the global `random`: seed it per process, so the same seed and
        # node give the same draws in the same order (per-user choices use their own RNG below)
        random.seed(f"{runtime.seed}:{self.node}:jitter")
        self.credentials = ClientCredentials(runtime.client_id, os.environ.get(Env.CLIENT_SECRET, ""))
        self.policy = RetryPolicy(scenario.retry)
        self.scenario_file = runtime.scenario_file
        self.recorder: Recorder | None = None
        if not self.is_master:
            records_dir = os.path.join(runtime.run_dir, "records")
            self.recorder = Recorder(records_dir, self.node, environment.events.request)
            self.recorder.warm_up()
            settle_heap()  # last of the start-up: what exists now stays for the whole run
        self.timeline: Timeline | None = None
        self._events: JsonLines | None = None
        # a web UI session: each test writes to a run directory of its own (records, timeline)
        self.tests = UiTests(runtime.run_dir) if runtime.ui_session and not self.is_worker else None
        if not self.is_worker and self.tests is None:
            self._events = JsonLines(os.path.join(runtime.run_dir, "timeline.jsonl"))
        self.master_side: MasterSide | None = None
        self.worker_side: WorkerSide | None = None
        self._greenlets: list[gevent.Greenlet] = []
        self._users_made = 0
        self.test_started_at: float | None = None
        self._worker_phase = ""  # on a worker: the phase the master's timeline is in

    # --- wiring ----------------------------------------------------------------------------------

    def register(self) -> None:
        setattr(self.environment, PLUGIN_ATTR, self)
        ev = self.environment.events
        ev.test_start.add_listener(self.on_test_start)
        ev.test_stop.add_listener(self.on_test_stop)
        ev.quitting.add_listener(self.on_quitting)
        if self.recorder is not None:
            self._greenlets.append(gevent.spawn(self._flush_loop))
        self._greenlets.append(gevent.spawn(keep_stats_bounded, self.environment.stats, time.time))
        if self.environment.web_ui is None:
            without_current_percentiles(self.environment.stats)
        if self.is_worker:
            assert self.recorder is not None and self.environment.runner is not None
            self.environment.runner.register_message(PHASE, self._on_phase)
            self.worker_side = WorkerSide(self.environment, self.recorder, self.node, self.remote, self.records_of)
            self._greenlets += self.worker_side.register()
        if self.is_master:
            self.master_side = MasterSide(self.environment, self.emit, self.current_phase, self.worker_setup,
                                          Path(self.runtime.run_dir) / "records")  # fmt: skip
            self.master_side.register()
            self._greenlets.append(gevent.spawn(self.master_side.watch))
        if self.environment.web_ui is not None and self.tests is not None:
            tests = self.tests
            dirs = webui.RunDirs(lambda: tests.current, tests.by_id)
            choices = form_choices(self.runtime)
            webui.register(
                self.environment.web_ui, self.view_rows, resilience.COLUMNS, dirs, tests.live, lambda: choices
            )

        ready(self.environment).set()

    @staticmethod
    def of(environment: Environment) -> HarnessPlugin:
        plugin: HarnessPlugin = getattr(environment, PLUGIN_ATTR)
        return plugin

    @staticmethod
    def wait(environment: Environment, timeout_s: float = JOIN_TIMEOUT_S) -> HarnessPlugin:
        """The plugin, once there is one: a late remote worker gets users before the run's setup arrives."""
        if not ready(environment).wait(timeout_s):
            raise locust.exception.StopUser()
        return HarnessPlugin.of(environment)

    def records_of(self, run_id: str) -> str:
        """On a worker: where the records of web UI test `run_id` go. A remote worker keeps its own copy of
        each test's run directory beside the one it joined with (`<run id>-<node>`, as harness.load.remote)."""
        if self.remote:
            return str(Path(self.runtime.run_dir).parent / f"{run_id}-{self.node}" / "records")
        return records_dir_of(self.runtime.run_dir, run_id)

    def worker_setup(self) -> WorkerSetup:
        """What a remote worker is told (the master's side): everything but secrets. In a web UI session the
        run is the current test (its directory, its scenario)."""
        runtime = self.runtime
        try:
            user_count = int(os.environ.get(Env.USER_COUNT, "0"))
        except ValueError:
            user_count = 0
        current = self.tests.current if self.tests is not None else None
        return {
            "run_id": os.path.basename(os.path.normpath(current or runtime.run_dir)),
            "scenario_yaml": Path(self.scenario_file).read_text(encoding="utf-8"),
            "base_url": runtime.base_url, "target_url": runtime.target_url, "client_id": runtime.client_id,
            "seed": runtime.seed, "user_count": user_count, "phase": self.current_phase(),
            "started_at": self.test_started_at,
            "origins": [o.model_dump() for o in runtime.origins], "endpoints": dict(runtime.endpoints),
            "ca_pem": Path(runtime.ca_file).read_text(encoding="utf-8") if runtime.ca_file else None,
        }  # fmt: skip

    def emit(self, event: TimelineEvent) -> None:
        if self._events is not None:
            self._events(event)
        if self.is_master and event["kind"] == "phase_start":
            runner = self.environment.runner
            assert runner is not None
            runner.send_message(PHASE, event["phase"])  # workers label their records with it

    def _on_phase(self, environment: Environment, msg: Any, **_: Any) -> None:
        self._worker_phase = str(msg.data)

    def join_running(self, phase: str, started_at: float | None) -> None:
        """A remote worker joining: the phase the run is in (a late one starts there)."""
        self._worker_phase = phase
        self.test_started_at = started_at

    # --- events ----------------------------------------------------------------------------------

    def on_test_start(self, **_: Any) -> None:
        self._adopt_choice()
        self.test_started_at = time.time()
        if self.is_worker or (self.timeline is not None and not self.timeline.stopped):
            return  # the timeline runs once per test, in the master or the single local process
        if self.tests is not None:
            self._begin_test(self.tests)
        applier = None
        if self.runtime.proxy_api and self.runtime.proxy_name:
            client = ToxiproxyClient(self.runtime.proxy_api)
            applier = FaultApplier.for_runtime(client, self.runtime)
            _warm_up(applier, client, self.scenario)
        elif self.scenario.fault_types("process", "network", "command", "plugin"):
            applier = FaultApplier(None, "", target=None)  # no proxy: the orchestrator's channel only
        run_dir = self.tests.current if self.tests is not None and self.tests.current else self.runtime.run_dir
        run_id = os.path.basename(os.path.normpath(run_dir)).split("-")[0].lower()
        self.timeline = Timeline(self.scenario.phases, applier, self.emit, sleep=gevent.sleep, run_id=run_id)
        self._greenlets.append(gevent.spawn(self.timeline.run))

    # --- the scenario chosen in the web UI's start form ------------------------------------------

    def _chosen(self) -> ScenarioChoice | None:
        options = self.environment.parsed_options
        return self.runtime.choice(str(getattr(options, "harness_scenario", "") or ""))

    def _adopt_choice(self) -> None:
        """At the start of each test: the scenario the form chose (workers receive the master's form values
        with the spawn message), or the session's own when the form chose none."""
        choice = self._chosen()
        file = choice.file if choice is not None else self.runtime.scenario_file
        if file != self.scenario_file:
            self.scenario = load_scenario(file)
            self.policy, self.scenario_file = RetryPolicy(self.scenario.retry), file

    def _begin_test(self, tests: UiTests) -> None:
        """A web UI test gets a run directory of its own; the workers learn it before they are spawned."""
        if self._events is not None:
            self._events.close()
        run_dir = tests.begin(self.scenario, self.scenario_file)
        self._events = JsonLines(run_dir / "timeline.jsonl")
        if self.master_side is not None:
            self.master_side.announce_test(run_dir)
        if self.recorder is not None:
            self.recorder.switch(run_dir / "records")
        self.timeline = None  # a new test: a new timeline, for the scenario chosen now
        if self.environment.parsed_options is not None:  # the form's next numbers: this scenario's
            load = peak_load(self.scenario)
            self.environment.parsed_options.num_users = load["users"]
            self.environment.parsed_options.spawn_rate = load["spawn_rate"]

    def on_test_stop(self, **_: Any) -> None:
        if self.timeline is not None:
            self.timeline.stop()  # the web UI's Stop lands here too: every active fault comes off
        if self.recorder is not None:
            self.recorder.flush()
        if self.tests is not None:  # (the workers flushed before test_stop: distributed.MasterSide)
            self.tests.end()

    def on_quitting(self, **_: Any) -> None:
        if self.timeline is not None:
            self.timeline.stop()
        if self.recorder is not None:
            self.recorder.flush()
        if self.worker_side is not None:
            self.worker_side.on_quitting()
        for greenlet in self._greenlets:
            greenlet.kill(block=False)
        if self._events is not None:
            self._events.close()
            self._events = None

    def _flush_loop(self) -> None:
        assert self.recorder is not None
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            self.recorder.flush()

    # --- what users, the shape and the web UI ask for --------------------------------------------

    def current_phase(self) -> str:
        if self.timeline is not None:
            return self.timeline.current_phase
        return self._worker_phase or self.scenario.phases[0].name

    def run_time_s(self) -> float:
        return time.time() - self.test_started_at if self.test_started_at is not None else 0.0

    def new_user_rng(self) -> tuple[int, random.Random]:
        self._users_made += 1
        # string seeds hash deterministically (unlike tuples under PYTHONHASHSEED)
        return self._users_made, random.Random(f"{self.runtime.seed}:{self.node}:{self._users_made}")

    def view_rows(self) -> list[dict[str, Any]]:
        runner = self.environment.runner
        lost = sorted(self.master_side.lost) if self.master_side is not None else []
        live = self.tests.live() if self.tests is not None else None
        return resilience.rows(self.scenario, live, runner.state if runner is not None else "", lost)


def _warm_up(applier: FaultApplier, client: Any, scenario: Scenario) -> None:
    """Pay the one-time costs (fault modules imported on first use, the API's keep-alive connection)
    before the first phase, so that the first fault change is as punctual as the others."""
    for phase in scenario.phases:
        for fault in phase.faults:
            if isinstance(fault, ProxyFault) and fault.proxy_switch() is None:
                with contextlib.suppress(KeyError):  # an endpoint the provider lacks: an error at apply time
                    fault.toxic("warm-up", applier.paths)
    with contextlib.suppress(Exception):  # a proxy that does not answer is reported at the first change
        client.get_proxies()


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--harness-runtime",
        default=os.environ.get(Env.RUNTIME, ""),
        help="runtime.json written by `harness run` (scenario, target address, run directory)",
        include_in_web_ui=False,
    )
    choices = _form_choices(os.environ.get(Env.RUNTIME, ""))
    parser.add_argument(
        "--harness-scenario",
        default=choices[0] if choices else "",
        choices=choices or None,
        help="the scenario this test drives: its phases (users per phase) and faults, shown as "
        "name: phase duration users [faults]; the shape follows the phases whatever the user fields say",
    )


def _form_choices(runtime_path: str) -> list[str]:
    """The start form's scenarios (`harness ui` wrote them into the runtime); parsed anew each time the
    web UI renders, so it must stay cheap: one small JSON file."""
    if not runtime_path or not os.path.exists(runtime_path):
        return []
    return [choice.plan for choice in Runtime.load(runtime_path).choices]


@events.init.add_listener  # type: ignore[untyped-decorator]
def _on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    path = options.harness_runtime if options else ""
    work_dir = os.environ.get(Env.WORKER_DIR, "")
    # `harness worker` sets WORKER_DIR. Its --harness-runtime may not be empty even so: a worker joining a
    # running test gets Locust's spawn message, with the master's own options, before `init` fires here
    if work_dir and isinstance(environment.runner, WorkerRunner):
        node = node_name(environment.runner)  # `harness worker --master`: the master sends the rest
        join_remote(environment, Path(work_dir), node, _start_remote)
        return
    if not path:
        raise SystemExit("harness: --harness-runtime (or HARNESS_RUNTIME) is required; use `harness run`")
    runtime = Runtime.load(path)
    environment.host = runtime.base_url  # the web UI shows where load goes, and asks for no host
    scenario = load_scenario(runtime.scenario_file)
    if environment.web_ui is not None and environment.parsed_options is not None:
        load = peak_load(scenario)  # the form's users and ramp-up: the scenario's, not Locust's defaults
        environment.parsed_options.num_users = load["users"]
        environment.parsed_options.spawn_rate = load["spawn_rate"]
    plugin = HarnessPlugin(environment, runtime, scenario)
    plugin.register()
    if plugin.master_side is not None and options is not None and options.headless:
        plugin.master_side.gate(options.expect_workers, options.expect_workers_max_wait)


def _start_remote(environment: Environment, runtime: Runtime, scenario: Scenario, setup: WorkerSetup) -> None:
    environment.host = runtime.base_url
    plugin = HarnessPlugin(environment, runtime, scenario, remote=True)
    plugin.join_running(setup["phase"], setup["started_at"])
    plugin.register()


def ready(environment: Environment) -> gevent.event.Event:
    event = getattr(environment, READY_ATTR, None)
    if event is None:
        event = gevent.event.Event()
        setattr(environment, READY_ATTR, event)
    return event


class SsoUser(User):
    """One simulated client running the scenario's weighted mix of SSO journeys, closed or open loop."""

    def on_start(self) -> None:
        plugin = HarnessPlugin.wait(self.environment)
        index, self.rng = plugin.new_user_rng()
        scenario = plugin.scenario
        self.think_time_s = scenario.load.think_time_s
        assert plugin.recorder is not None
        self.session = make_session(origins=runtime_origins(plugin.runtime, scenario.target))
        self.caller = Caller(
            self.session,
            plugin.policy,
            plugin.recorder,
            user=f"{plugin.node}-u{index}",
            node=plugin.node,
            phase=plugin.current_phase,
        )
        self.pacer: Pacer | None = None
        if scenario.load.arrival == "open":
            self.pacer = Pacer(lambda: rate_at(scenario, plugin.run_time_s()), self.rng)
        self.flows = build_flows(
            scenario, self.caller, plugin.runtime.base_url, plugin.credentials, rng=self.rng, user_index=index
        )
        self.weights = [f.weight for f in scenario.flows]

    def on_stop(self) -> None:
        self.session.close()

    def wait_time(self) -> float:
        if self.pacer is not None:
            return 0.0  # the task itself waits for its due time
        low, high = self.think_time_s
        return self.rng.uniform(low, high)

    @task
    def journey(self) -> None:
        flow = self.rng.choices(self.flows, weights=self.weights)[0]
        if self.pacer is not None:
            gevent.sleep(self.pacer.wait_s())
            self.caller.intended_ts = self.pacer.start()
        flow.run()


class ScenarioShape(LoadTestShape):
    """Users over time as the scenario's phases say; the test ends when the last phase does."""

    def tick(self) -> tuple[int, float] | None:
        plugin = HarnessPlugin.of(self.runner.environment) if self.runner else None
        if plugin is None:
            return None
        return target_at(plugin.scenario, self.get_run_time())  # type: ignore[no-untyped-call]


__all__ = ["HarnessPlugin", "ScenarioShape", "SsoUser", "locust"]
