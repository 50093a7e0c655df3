"""`harness run` and `harness ui`: start the services (stack.py), drive Locust through the scenario
(loadgen.py), watch it, roll every fault back (rollback.py), write the journal and the report. Plain
Python (no gevent): Locust runs in its own processes.

Rollback happens in `finally`, so it runs on a normal end, an SLO failure, an exception, Ctrl-C and
SIGTERM alike: the proxy is reset and checked to hold no toxic before any process is stopped.
"""

from __future__ import annotations

import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from harness.chaos.session import EventLog
from harness.errors import EXIT_ABORTED, EXIT_INFRA, HarnessError, InfrastructureError
from harness.records import shard_paths
from harness.run import loadgen, remote
from harness.run.console import Console, Progress
from harness.run.coverage import worker_coverage
from harness.run.exporter import LiveMetrics
from harness.run.finish import finish
from harness.run.journal import Journal, read_jsonl, scenario_entry
from harness.run.leftovers import ActiveRuns, Registration
from harness.run.live import LiveView, current_phase, import_ahead
from harness.run.rollback import Rollback
from harness.run.services import ManagedProcess
from harness.run.signals import Interrupted, raise_if_received, signals_force, signals_raise
from harness.run.soak import PartialReports
from harness.run.stack import Stack
from harness.run.steady import ProbeTrigger, SteadyState
from harness.run.uichoices import UiChoices
from harness.run.uisession import UiSession
from harness.run.watch import Trigger, first_trigger
from harness.scenario import Scenario
from harness.scenario.catalog import resolved_yaml

LOCUST_GRACE_S = 60.0  # start-up and shut-down time allowed beyond the scenario's own duration
WATCH_INTERVAL_S = 1.0


def run_id_for(scenario: Scenario, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario.name}"


class StopConditionTriggered(Exception):
    def __init__(self, trigger: Trigger | ProbeTrigger):
        super().__init__(trigger.describe())
        self.trigger = trigger


class Run:
    def __init__(self, scenario: Scenario, source: Path, out: Path, mode: loadgen.LoadMode | None = None,
                 duration_scale: float = 1.0, console: Console | None = None, listen: str | None = None):  # fmt: skip
        self.scenario, self.source, self.listen = scenario, source, listen
        self.duration_scale = duration_scale
        self.console = console or Console()
        self.mode = mode or loadgen.LoadMode()
        # a web UI session has a directory of its own (services' logs, the session log); each test in it
        # gets a run directory beside it (harness.run.uisession)
        kind = "-ui" if self.mode.ui else ""
        self.run_id = run_id_for(scenario) + kind
        for n in range(2, 1000):  # two runs of one scenario in the same second get their own directories
            if not (out / self.run_id).exists():
                break
            self.run_id = f"{run_id_for(scenario)}{kind}-{n}"
        self.run_dir = out / self.run_id
        self.active = ActiveRuns()
        self.registration = Registration(self.run_id, str(self.run_dir.resolve()))
        self.ui = UiChoices(scenario, source, self.run_dir, duration_scale) if self.mode.ui else None
        self.session: UiSession | None = None
        self._signals: list[str] = []
        self.metrics: LiveMetrics | None = None  # /metrics (harness.run.exporter), when the scenario asks
        self.partials: PartialReports | None = None

    # --- the run ---------------------------------------------------------------------------------

    def execute(self) -> int:
        url = self._serve_metrics()  # first: a port in use is bad input (exit 2) before anything is made
        import_ahead()  # before the run directory exists: a signal here leaves nothing half-made
        cleaned = self.active.clean()
        for line in cleaned:
            print(f"harness: {line}", file=sys.stderr)
        journal = self._prepare_run_dir()
        self.active.save(self.registration)
        for line in cleaned:
            journal.event("leftovers_cleaned", line.strip())
        if url is not None:
            journal.services["metrics"] = {"url": url}
            journal.event("metrics_serving", url)
            if self.console.mode == "text":
                print(f"harness: Prometheus metrics at {url}", file=self.console.out, flush=True)
        stack = Stack(self.scenario, self.run_dir, journal, self.active, self.registration, self.listen)
        stack.secret_values += self.scenario.secret_values  # from secret-named ${VAR}s: scanned for too
        rollback = Rollback(journal, self.run_dir)
        exit_code, status = EXIT_INFRA, "crashed"
        try:
            with signals_raise(self._signals):
                runtime = stack.start(self.ui.offer(journal) if self.ui is not None else ())
                if self.ui is not None:  # each test of the session writes to a run directory of its own
                    runtime.model_copy(update={"ui_session": True}).save(self.run_dir / "runtime.json")
                raise_if_received(self._signals)
                events = EventLog(self.run_dir / "timeline.jsonl")
                steady = SteadyState(self.scenario, self.run_dir, events, stack.probe)
                journal.steady_state["before"] = steady.check("before")
                steady.start()
                try:
                    self._drive_load(stack, journal, steady)
                finally:
                    steady.stop()
                journal.steady_state["after"] = steady.check("after")
            status = "completed"
        except StopConditionTriggered as exc:
            status, exit_code = "aborted", EXIT_ABORTED
            journal.stop_condition = exc.trigger.record()
            journal.event("stop_condition", exc.trigger.describe())
            print(f"\nharness: {exc.trigger.describe()}: aborting, rolling back every fault", file=sys.stderr)
        except Interrupted as exc:
            status, exit_code = "interrupted", EXIT_ABORTED
            self._note_error(journal, f"interrupted by {exc}")
            print(f"\nharness: {exc}: stopping the load and rolling back every fault", file=sys.stderr)
        except HarnessError as exc:
            status, exit_code = "crashed", exc.exit_code
            self._note_error(journal, str(exc))
            print(f"harness: {exc}", file=sys.stderr)
        except Exception as exc:  # still roll back, still write what we have
            status, exit_code = "crashed", EXIT_INFRA
            self._note_error(journal, f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            with signals_force(rollback.force):
                # whatever the stack got as far as starting, even when a signal cut its start short
                rollback.load, rollback.host = stack.processes.get("locust"), stack.chaos
                rollback.target_chaos, rollback.proxy = stack.target_chaos, stack.proxy
                rollback.run()
                stack.stop()
                self._stop_live_outputs()  # after the faults are off: a partial report may take a moment
                timeline = read_jsonl(self.run_dir / "timeline.jsonl")
                journal.workers = worker_coverage(timeline, self.run_dir / "records", time.time())
                journal.close(status, timeline)
                self.active.remove(self.registration)
        if self.session is not None:  # each test was judged and reported when it ended
            return self.session.exit_code if status == "completed" else exit_code
        finished = finish(self.run_dir, journal, stack.secret_values, status, exit_code)
        if finished.report is not None:
            self.console.finished(finished.report.summary, finished.report.report_html)
        return finished.exit_code

    def _prepare_run_dir(self) -> Journal:
        self.run_dir.mkdir(parents=True, exist_ok=False)
        (self.run_dir / "logs").mkdir()
        (self.run_dir / "scenario.yaml").write_text(resolved_yaml(self.scenario), encoding="utf-8")
        entry = scenario_entry(self.scenario, self.source, self.duration_scale)
        if self.ui is not None:  # the session's own journal (services, rollback); not a run's journal.json
            journal = Journal(self.run_dir / "session.json", self.run_id, entry)
            journal.write()
            print(f"harness: web UI session {self.run_id}: each test writes a run directory of its own in "
                  f"{self.run_dir.parent}", flush=True)  # fmt: skip
            return journal
        (self.run_dir / "records").mkdir()
        journal = Journal(self.run_dir / "journal.json", self.run_id, entry)
        journal.write()
        self.console.started(self.run_id, self.scenario.name, self.scenario.duration_s, self.run_dir,
                             self.duration_scale)  # fmt: skip
        return journal

    def _serve_metrics(self) -> str | None:
        """Start /metrics when the scenario or --metrics-port asks (headless runs); returns its URL."""
        live = self.scenario.live
        if live.metrics_port is None or self.ui is not None:
            return None
        self.metrics = LiveMetrics(self.run_id, self.scenario.name)
        port = self.metrics.serve(live.metrics_port, live.metrics_host)
        return f"http://{live.metrics_host}:{port}/metrics"

    def _stop_live_outputs(self) -> None:
        if self.partials is not None:
            self.partials.stop()
        if self.metrics is not None:
            self.metrics.close()

    def _drive_load(self, stack: Stack, journal: Journal, steady: SteadyState) -> None:
        load = loadgen.start(stack.spawn, journal, self.run_dir, stack.load_env(), self.mode)
        try:
            if self.ui is not None:
                self._serve_ui(load, stack, journal)
            else:
                self._watch(load.master, stack, journal, steady)
                self._check_workers_came(load)
                self._check_load_made_records(load.master)
                load.check_exit(journal)
        finally:
            load.stop_workers(journal)

    def _serve_ui(self, load: loadgen.Load, stack: Stack, journal: Journal) -> None:
        """Until Ctrl-C, which is how a web-UI session ends: each test is judged and reported when it ends
        (a second Ctrl-C while Locust winds down is an interruption, as in headless runs)."""
        assert self.ui is not None
        web = f"http://{self.mode.web_host}:{self.mode.web_port}"
        self.session = UiSession(self.run_dir, stack, self.ui, self.console, web, journal, self.duration_scale,
                                 self._signals)  # fmt: skip
        self.session.serve(load)

    def _watch(self, locust: ManagedProcess, stack: Stack, journal: Journal, steady: SteadyState) -> None:
        """Once a second until the load ends: keep the journal current, judge the stop conditions (on the
        records and on the probes), notice a service that died, refresh live.json; every console interval,
        print the live line. The deadline allows for the wait for --expect-workers before the first phase."""
        waiting = self.mode.workers_timeout_s if self.mode.expected else 0.0
        deadline = time.monotonic() + self.scenario.duration_s + LOCUST_GRACE_S + waiting
        timeline = self.run_dir / "timeline.jsonl"
        progress = Progress(timeline, self.console)
        conditions = self.scenario.stop_conditions
        horizon = max((c.window_s for c in conditions), default=1.0)
        live = LiveView(self.run_dir, self.scenario, horizon_s=horizon)
        if self.metrics is not None:
            live.records.listeners.append(self.metrics.add_records)
        every_s = self.scenario.live.partial_report_every_s
        self.partials = PartialReports(self.run_dir, every_s, time.time()) if every_s else None
        next_line = time.monotonic() + self.console.interval_s
        while locust.alive():
            raise_if_received(self._signals)
            if time.monotonic() > deadline:
                raise InfrastructureError(f"locust did not finish within the scenario's time; see {locust.log_path}")
            locust.wait(WATCH_INTERVAL_S)
            progress.print_new()
            journal.fold(read_jsonl(timeline))
            journal.write()
            stack.check()
            now = time.time()
            if live.poll() >= 0 and conditions:
                trigger: Trigger | ProbeTrigger | None = first_trigger(conditions, live.records, now)
                trigger = trigger or steady.trigger(now)
                if trigger is not None:
                    raise StopConditionTriggered(trigger)
            state = journal.to_dict()
            if time.monotonic() >= next_line:
                next_line += self.console.interval_s
                self.console.progress(live.latest(state, now), live.judge_slos(state, now))
            if self.metrics is not None:  # the SLO states of the console's last judgement: no second one
                self.metrics.update(state, current_phase(state), live.slos, live.slos_at)
            if self.partials is not None:
                test_start = state.get("test_start")
                self.partials.tick(now, float(test_start) if isinstance(test_start, int | float) else None)
            live.write(state, now)
        progress.print_new()
        raise_if_received(self._signals)

    def _check_workers_came(self, load: loadgen.Load) -> None:
        """The master gave up waiting for --expect-workers: say who came, who is missing, who was refused."""
        events = read_jsonl(self.run_dir / "timeline.jsonl")
        missing = [e for e in events if e.get("kind") == "workers_missing"]
        if missing:
            refused = [e for e in events if e.get("kind") == "worker_refused"]
            local = [f"w{k}" for k in range(1, self.mode.workers + 1)]
            raise InfrastructureError(remote.missing_message(missing[-1], local, refused, self.mode.master_address))

    def _check_load_made_records(self, locust: ManagedProcess) -> None:
        """A run whose simulated users all crashed has no failed SLO to show for it; say so loudly."""
        if not shard_paths(self.run_dir / "records", "operations"):
            raise InfrastructureError(
                f"the load made no request at all (did every simulated user fail?); last lines of "
                f"{locust.log_path}:\n{locust.tail()}"
            )

    @staticmethod
    def _note_error(journal: Journal, message: str) -> None:
        journal.errors.append(message)
        journal.event("error", message)
