"""`harness run` and `harness ui`: start the services (stack.py), drive Locust through the scenario
(loadgen.py), watch it, roll every fault back (rollback.py), write the journal and the report. Plain
Python (no gevent): Locust runs in its own processes.

Rollback happens in `finally`, so it runs on a normal end, an SLO failure, an exception, Ctrl-C and
SIGTERM alike: the proxy is reset and checked to hold no toxic before any process is stopped.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import EXIT_ABORTED, EXIT_INFRA, HarnessError, InfrastructureError, InputError
from harness.records import shard_paths
from harness.report.build import build_report
from harness.run import loadgen, remote
from harness.run.console import Progress, print_verdict
from harness.run.coverage import worker_coverage
from harness.run.journal import Journal, read_jsonl, scenario_entry
from harness.run.leftovers import ActiveRuns, Registration
from harness.run.plan import describe_plan
from harness.run.rollback import Rollback
from harness.run.secrets import scan_run_dir
from harness.run.services import ManagedProcess
from harness.run.signals import Interrupted, raise_if_received, signals_force, signals_raise
from harness.run.stack import Stack
from harness.run.uichoices import UiChoices
from harness.run.watch import LiveRecords, Trigger, first_trigger
from harness.scenario import Scenario, load_scenario
from harness.scenario.catalog import resolved_yaml
from harness.scenario.model import ExternalTarget

LOCUST_GRACE_S = 60.0  # start-up and shut-down time allowed beyond the scenario's own duration
WATCH_INTERVAL_S = 1.0


def run_scenario_file(
    path: str | Path,
    out: str | Path = "reports",
    seed: int | None = None,
    duration_scale: float = 1.0,
    dry_run: bool = False,
    workers: int = 0,
    ui: loadgen.LoadMode | None = None,
    master_bind: str | None = None,
    expect_workers: int = 0,
    workers_timeout_s: float = loadgen.EXPECT_WORKERS_WAIT_S,
    listen: str | None = None,
) -> int:
    scenario = load_scenario(path)  # bad input raises before anything starts or is written
    if not duration_scale > 0:
        raise InputError(f"--duration-scale must be above 0 (got {duration_scale:g})")
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": seed})
    if duration_scale != 1.0:
        scenario = scenario.scaled(duration_scale)
    check_external_target(scenario)
    master = remote.parse_hostport(master_bind, "--master-bind") if master_bind is not None else None
    if master is not None and master[0] not in ("0.0.0.0", "::"):
        remote.check_listen(master[0], "--master-bind")
    address = remote.check_listen(listen) if listen is not None else None
    check_listen_target(scenario, address)
    if ui is None:
        mode = loadgen.LoadMode(workers=workers, master_host=master[0] if master else "127.0.0.1",
                                master_port=master[1] if master else 0, expect_workers=expect_workers,
                                workers_timeout_s=workers_timeout_s)  # fmt: skip
    else:
        mode = ui
    remote.check_remote(scenario, mode.workers, mode.expect_workers or mode.workers, master_bind)
    if dry_run:
        print(describe_plan(scenario, address))
        print("\n".join(remote.describe(mode.workers, mode.expected, master, mode.workers_timeout_s, address)))
        return 0
    return Run(scenario, Path(path), Path(out), mode, duration_scale, listen=address).execute()


def check_listen_target(scenario: Scenario, listen: str | None) -> None:
    """--listen moves our own services: there must be one that remote workers can reach there."""
    if listen is None:
        return
    if isinstance(scenario.target, ExternalTarget):
        raise InputError(f"--listen {listen}: an external provider is reached at its issuer; nothing of ours listens")
    if getattr(scenario.target, "netns", False) and scenario.proxy.kind == "none":
        raise InputError(f"--listen {listen}: with target.netns the target is reached through the proxy; "
                         "drop proxy: {kind: none}")  # fmt: skip


def clean_leftovers(out: str | Path | None = None) -> int:
    """`harness cleanup`: undo what crashed runs left behind (processes, proxies on a shared Toxiproxy),
    anywhere; with `out`, also runs of older versions, which registered in `<out>/.active`."""
    said = ActiveRuns().clean() + (ActiveRuns.legacy(Path(out)).clean() if out is not None else [])
    print("\n".join(said) if said else "harness: nothing left behind by earlier runs")
    return 0


def check_external_target(scenario: Scenario) -> None:
    """What an external provider needs before anything starts (the model already checked the hosts)."""
    target = scenario.target
    if not isinstance(target, ExternalTarget):
        return
    if scenario.proxy.kind != "none":
        raise InputError(
            f"{scenario.name}: an external provider is reached at its issuer URL, so proxy faults would not "
            "touch it; set proxy: {kind: none} (network faults for external providers are not supported yet)"
        )
    missing = [name for name in (target.client_id_env, target.client_secret_env) if not os.environ.get(name)]
    if missing:
        raise InputError(f"{scenario.name}: set the environment variables {', '.join(missing)} (target credentials)")


def run_id_for(scenario: Scenario, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario.name}"


class StopConditionTriggered(Exception):
    def __init__(self, trigger: Trigger):
        super().__init__(trigger.describe())
        self.trigger = trigger


class Run:
    def __init__(self, scenario: Scenario, source: Path, out: Path, mode: loadgen.LoadMode | None = None,
                 duration_scale: float = 1.0, listen: str | None = None):  # fmt: skip
        self.scenario, self.source, self.listen = scenario, source, listen
        self.mode = mode or loadgen.LoadMode()
        self.run_id = run_id_for(scenario)
        for n in range(2, 1000):  # two runs of one scenario in the same second get their own directories
            if not (out / self.run_id).exists():
                break
            self.run_id = f"{run_id_for(scenario)}-{n}"
        self.run_dir = out / self.run_id
        self.active = ActiveRuns()
        self.registration = Registration(self.run_id, str(self.run_dir.resolve()))
        self.ui = UiChoices(scenario, source, self.run_dir, duration_scale) if self.mode.ui else None
        self._signals: list[str] = []

    # --- the run ---------------------------------------------------------------------------------

    def execute(self) -> int:
        cleaned = self.active.clean()
        for line in cleaned:
            print(f"harness: {line}", file=sys.stderr)
        journal = self._prepare_run_dir()
        self.active.save(self.registration)
        for line in cleaned:
            journal.event("leftovers_cleaned", line.strip())
        stack = Stack(self.scenario, self.run_dir, journal, self.active, self.registration, self.listen)
        rollback = Rollback(journal, self.run_dir)
        exit_code, status = EXIT_INFRA, "crashed"
        try:
            with signals_raise(self._signals):
                stack.start(self.ui.offer(journal) if self.ui is not None else ())
                raise_if_received(self._signals)
                journal.steady_state["before"] = stack.probe()
                self._drive_load(stack, journal)
                journal.steady_state["after"] = stack.probe()
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
                timeline = read_jsonl(self.run_dir / "timeline.jsonl")
                journal.workers = worker_coverage(timeline, self.run_dir / "records", time.time())
                journal.close(status, timeline)
                self.active.remove(self.registration)
        return self._report(journal, stack.secret_values, status, exit_code)

    def _prepare_run_dir(self) -> Journal:
        self.run_dir.mkdir(parents=True, exist_ok=False)
        (self.run_dir / "records").mkdir()
        (self.run_dir / "logs").mkdir()
        (self.run_dir / "scenario.yaml").write_text(resolved_yaml(self.scenario), encoding="utf-8")
        journal = Journal(self.run_dir / "journal.json", self.run_id, scenario_entry(self.scenario, self.source))
        journal.write()
        print(f"harness: run {self.run_id}: {self.scenario.duration_s:g} s, writing to {self.run_dir}")
        return journal

    def _drive_load(self, stack: Stack, journal: Journal) -> None:
        load = loadgen.start(stack.spawn, journal, self.run_dir, stack.load_env(), self.mode)
        try:
            if self.ui is not None:
                self._serve_ui(load, journal)
            else:
                self._watch(load.master, stack, journal)
                self._check_workers_came(load)
                self._check_load_made_records(load.master)
                load.check_exit(journal)
        finally:
            load.stop_workers(journal)

    def _serve_ui(self, load: loadgen.Load, journal: Journal) -> None:
        """Until Ctrl-C, which is how a web-UI session ends: a normal end, judged like any run (a second
        Ctrl-C while Locust winds down is an interruption, as in headless runs)."""
        assert self.ui is not None
        try:
            load.wait_ui(Progress(self.run_dir / "timeline.jsonl").print_new)
        except Interrupted as exc:
            self._signals.clear()
            journal.event("ui_closed", f"{exc} ended the web UI session")
            print("\nharness: closing the web UI: stopping Locust, then the report", file=sys.stderr)
            load.quit_ui(journal)
        self.scenario = self.ui.chosen(journal)

    def _watch(self, locust: ManagedProcess, stack: Stack, journal: Journal) -> None:
        """Once a second until the load ends: show progress, keep the journal current, judge the stop
        conditions, and notice a service that died."""
        waiting = self.mode.workers_timeout_s if self.mode.expected else 0.0
        deadline = time.monotonic() + self.scenario.duration_s + LOCUST_GRACE_S + waiting
        timeline = self.run_dir / "timeline.jsonl"
        progress = Progress(timeline)
        conditions = self.scenario.stop_conditions
        horizon = max((c.window_s for c in conditions), default=1.0)
        live = LiveRecords(self.run_dir / "records", horizon_s=horizon + 2.0)
        while locust.alive():
            raise_if_received(self._signals)
            if time.monotonic() > deadline:
                raise InfrastructureError(f"locust did not finish within the scenario's time; see {locust.log_path}")
            locust.wait(WATCH_INTERVAL_S)
            progress.print_new()
            journal.fold(read_jsonl(timeline))
            journal.write()
            stack.check()
            if conditions and live.poll() >= 0:
                trigger = first_trigger(conditions, live, time.time())
                if trigger is not None:
                    raise StopConditionTriggered(trigger)
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

    def _report(self, journal: Journal, secret_values: list[str], status: str, exit_code: int) -> int:
        try:
            result = build_report(self.run_dir)
        except Exception as exc:
            print(f"harness: the report could not be built: {type(exc).__name__}: {exc}", file=sys.stderr)
            return exit_code if status != "completed" else EXIT_INFRA
        leaks = scan_run_dir(self.run_dir, secret_values)
        if leaks:
            for leak in leaks:
                print(f"harness: SECRET LEAK in the run directory: {leak}", file=sys.stderr)
            journal.errors.append(f"secret scan failed: {', '.join(map(str, leaks))}")
            exit_code = EXIT_INFRA
        elif status == "completed":
            exit_code = result.exit_code
        if status == "completed" and exit_code != 0:
            journal.status = "failed"
        journal.exit_code = exit_code
        journal.write()
        print_verdict(result.summary, result.report_html)
        return exit_code

    @staticmethod
    def _note_error(journal: Journal, message: str) -> None:
        journal.errors.append(message)
        journal.event("error", message)
