"""`harness run`: start the target and the proxy, drive Locust through the scenario, roll every fault
back, write the journal and the report. Plain Python (no gevent): Locust runs in its own process.

Rollback happens in `finally`, so it runs on a normal end, an SLO failure, an exception, Ctrl-C and
SIGTERM alike: the proxy is reset and checked to hold no toxic before any process is stopped.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from harness.chaos.procs import process_start_ticks
from harness.contract import SEEDED_USERS, Env, Runtime, ScenarioChoice, seeded_password, seeded_username
from harness.errors import EXIT_ABORTED, EXIT_INFRA, HarnessError, InfrastructureError, InputError
from harness.records import shard_paths
from harness.run.console import Progress, print_verdict
from harness.run.journal import Journal, read_jsonl
from harness.run.leftovers import ActiveRuns, Registration
from harness.run.secrets import scan_run_dir
from harness.run.services import ManagedProcess, free_port, python_module, wait_until_ready
from harness.run.watch import LiveRecords, Trigger, first_trigger
from harness.scenario import Scenario, load_scenario
from harness.scenario.catalog import resolved_yaml
from harness.scenario.model import EmbeddedTarget, ExternalTarget

LOCUSTFILE = Path(__file__).resolve().parent.parent / "load" / "locustfile.py"
PROXY_NAME = "sso"
CLIENT_ID = "harness-load"
READY_TIMEOUT_S = 30.0
LOCUST_GRACE_S = 60.0  # start-up and shut-down time allowed beyond the scenario's own duration
LOCUST_STOP_S = 15.0  # how long the load gets to wind down (and remove its faults) on an abort
WATCH_INTERVAL_S = 1.0
STEADY_STATE_PROBES = 5


class Interrupted(Exception):
    """SIGINT or SIGTERM reached the orchestrator."""


def run_scenario_file(
    path: str | Path,
    out: str | Path = "reports",
    seed: int | None = None,
    duration_scale: float = 1.0,
    dry_run: bool = False,
    workers: int = 0,
    ui: dict[str, Any] | None = None,
) -> int:
    scenario = load_scenario(path)  # bad input raises before anything starts or is written
    if not duration_scale > 0:
        raise InputError(f"--duration-scale must be above 0 (got {duration_scale:g})")
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": seed})
    if duration_scale != 1.0:
        scenario = scenario.scaled(duration_scale)
    check_external_target(scenario)
    if dry_run:
        from harness.run.plan import describe_plan

        print(describe_plan(scenario))
        return 0
    return Run(scenario, Path(path), Path(out), workers=workers, ui=ui).execute()


def clean_leftovers(out: str | Path = "reports") -> int:
    """`harness cleanup`: undo what crashed runs left behind (processes, proxies on a shared Toxiproxy)."""
    said = ActiveRuns(Path(out)).clean()
    print("\n".join(said) if said else "harness: nothing left behind by earlier runs")
    return 0


def seeded_user_env(count: int = SEEDED_USERS) -> dict[str, str]:
    """The embedded target seeds `count` users by a documented rule; simulated user i signs in as seeded
    user i mod count + 1 (harness.clients.flows), user0001 where a flow has no index."""
    name = seeded_username(1, count)
    return {Env.USERNAME: name, Env.PASSWORD: seeded_password(name), Env.USER_COUNT: str(count)}


def seeded_passwords(count: int = SEEDED_USERS) -> list[str]:
    """Every seeded user's password, for the secret scan."""
    return [seeded_password(seeded_username(i, count)) for i in range(1, count + 1)]


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


def _journal_scenario(scenario: Scenario, source: Path) -> dict[str, Any]:
    text = resolved_yaml(scenario)
    return {
        "name": scenario.name,
        "description": scenario.description,
        "file": str(source),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "duration_s": scenario.duration_s,
    }


def run_id_for(scenario: Scenario, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario.name}"


@contextmanager
def _signals_raise(received: list[str]) -> Iterator[None]:
    """Turn SIGINT/SIGTERM into an exception for the duration of the run (never at import). The
    signal is also written down: an exception raised while a finalizer happens to run is swallowed
    by Python, so the run's loops check `received` too."""

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        raise Interrupted(received[-1])

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class StopConditionTriggered(Exception):
    def __init__(self, trigger: Trigger):
        super().__init__(trigger.describe())
        self.trigger = trigger
        self.record = {
            "condition": trigger.condition.label,
            "metric": trigger.condition.metric,
            "scope": trigger.condition.scope,
            "window_s": trigger.condition.window_s,
            "below": trigger.condition.below,
            "above": trigger.condition.above,
            "observed": trigger.value,
            "samples": trigger.samples,
            "at": trigger.at,
        }


class Run:
    def __init__(self, scenario: Scenario, source: Path, out: Path, workers: int = 0, ui: dict[str, Any] | None = None):
        self.scenario, self.source = scenario, source
        # ui: {"web_host", "web_port", "duration_scale"} for `harness ui`; None: headless
        self.workers, self.ui = workers, ui
        self.run_id = run_id_for(scenario)
        for n in range(2, 1000):  # two runs of one scenario in the same second get their own directories
            if not (out / self.run_id).exists():
                break
            self.run_id = f"{run_id_for(scenario)}-{n}"
        self.run_dir = out / self.run_id
        self.logs = self.run_dir / "logs"
        self.secret = secrets.token_urlsafe(32)
        self.processes: dict[str, ManagedProcess] = {}
        self.proxy_client: Any = None
        self.proxy_name = PROXY_NAME
        self._created_proxy = False
        self.journal: Journal | None = None
        self._scratch: Path | None = None
        self._force = False
        self._signals: list[str] = []
        self._secret_values: list[str] = []
        self._user_env: dict[str, str] = {}
        self.active = ActiveRuns(out)
        self._chaos: Any = None  # harness.chaos.session.ChaosSession: process and network faults
        self._chaos_env: dict[str, str] = {}  # the control channel's address and token, for Locust only
        self._target_chaos_env: dict[str, str] = {}  # target_* faults: the target's chaos API and admin token
        self._choice_sources: dict[str, Path] = {}  # web UI: where each offered scenario came from
        self.registration = Registration(self.run_id, str(self.run_dir.resolve()))

    # --- the run ---------------------------------------------------------------------------------

    def execute(self) -> int:
        cleaned = self.active.clean()
        for line in cleaned:
            print(f"harness: {line}", file=sys.stderr)
        self._prepare_run_dir()
        assert self.journal is not None
        self.active.save(self.registration)
        for line in cleaned:
            self.journal.event("leftovers_cleaned", line.strip())
        exit_code = EXIT_INFRA
        status = "crashed"
        try:
            with _signals_raise(self._signals):
                self._start_services()
                self._check_signals()
                self.journal.steady_state["before"] = self._probe_steady_state()
                self._drive_load()
                self.journal.steady_state["after"] = self._probe_steady_state()
            status = "completed"
        except StopConditionTriggered as exc:
            status, exit_code = "aborted", EXIT_ABORTED
            self.journal.stop_condition = exc.record
            self.journal.event("stop_condition", exc.trigger.describe())
            print(f"\nharness: {exc.trigger.describe()}: aborting, rolling back every fault", file=sys.stderr)
        except Interrupted as exc:
            status, exit_code = "interrupted", EXIT_ABORTED
            self._note_error(f"interrupted by {exc}")
            print(f"\nharness: {exc}: stopping the load and rolling back every fault", file=sys.stderr)
        except HarnessError as exc:
            status, exit_code = "crashed", exc.exit_code
            self._note_error(str(exc))
            print(f"harness: {exc}", file=sys.stderr)
        except Exception as exc:  # still roll back, still write what we have
            status, exit_code = "crashed", EXIT_INFRA
            self._note_error(f"{type(exc).__name__}: {exc}")
            traceback.print_exc()
        finally:
            previous = self._second_signal_forces()
            try:
                self._roll_back()
                self._stop_services()
                self._close_journal(status)
                self.active.remove(self.run_id)
            finally:
                for sig, old in previous.items():
                    signal.signal(sig, old)
        return self._report(status, exit_code)

    def _second_signal_forces(self) -> dict[int, Any]:
        """While rolling back, another Ctrl-C does not cut the rollback short: it only stops waiting for
        the load to wind down gracefully."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self._force = True
            print("\nharness: forcing: the load is killed now; faults are still being removed", file=sys.stderr)

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _prepare_run_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=False)
        (self.run_dir / "records").mkdir()
        self.logs.mkdir()
        text = resolved_yaml(self.scenario)
        (self.run_dir / "scenario.yaml").write_text(text, encoding="utf-8")
        self.journal = Journal(
            self.run_dir / "journal.json", self.run_id, _journal_scenario(self.scenario, self.source)
        )
        self.journal.write()
        print(f"harness: run {self.run_id}: {self.scenario.duration_s:g} s, writing to {self.run_dir}")

    def _start_services(self) -> None:
        assert self.journal is not None
        if isinstance(self.scenario.target, ExternalTarget):
            self._use_external(self.scenario.target)
            return
        self._scratch = Path(tempfile.mkdtemp(prefix="harness-target-"))  # keys and hashes stay out of reports
        target_port = free_port()
        target_host = self._prepare_chaos()
        target_url = f"http://{target_host}:{target_port}"
        base_url = target_url
        proxy_api = None
        proxy_cfg = self.scenario.proxy
        if proxy_cfg.kind != "none":
            from harness.proxy.client import ToxiproxyClient

            if proxy_cfg.kind == "embedded":
                api_port = free_port()
                proxy_api = f"http://127.0.0.1:{api_port}"
                seed = str(self.scenario.seed)
                proxy = self._spawn("proxy", python_module("harness", "proxy", "--port", str(api_port), "--seed", seed))
                wait_until_ready(proxy, f"{proxy_api}/version", READY_TIMEOUT_S)
            else:
                proxy_api = proxy_cfg.api.rstrip("/")
                # a shared proxy: our own proxy name, so that rollback touches nothing of anyone else's
                self.proxy_name = f"harness-{self.run_id}-{secrets.token_hex(3)}".lower()
            self.proxy_client = ToxiproxyClient(proxy_api)
            if proxy_cfg.kind != "embedded":
                self._check_external_proxy()
            created = self.proxy_client.create_proxy(
                self.proxy_name, upstream=f"{target_host}:{target_port}", listen="127.0.0.1:0"
            )
            self._created_proxy = True
            if proxy_cfg.kind != "embedded":
                self.registration.shared_proxy = {"api": proxy_api, "name": self.proxy_name}
                self.active.save(self.registration)
            base_url = f"http://{created['listen']}"
            self.journal.services["proxy"] = {
                "kind": proxy_cfg.kind,
                "api": proxy_api,
                "name": self.proxy_name,
                "listen": created["listen"],
                "pid": self.processes["proxy"].pid if "proxy" in self.processes else None,
            }

        target_cfg = self.scenario.target
        if not isinstance(target_cfg, EmbeddedTarget):
            raise InputError("external targets are validated but `harness run` does not drive them yet")
        self._target_argv = [
            *self._target_prefix(),
            *python_module(
                "harness",
                "target",
                "--host",
                target_host,
                "--port",
                str(target_port),
                "--db",
                str(self._scratch / "target.sqlite3"),
                "--issuer",
                base_url,
                "--seed-users",
                str(SEEDED_USERS),
                "--signing-alg",
                target_cfg.signing_alg,
                "--workers",
                str(target_cfg.workers),
                "--audit-log",
                str(self.logs / "audit.jsonl"),
                "--request-log",
                str(self.logs / "requests.jsonl"),  # per request: fidelity checks
            ),
        ]
        self._target_url = target_url
        self._user_env = seeded_user_env()
        self._secret_values += seeded_passwords()
        self._enable_target_chaos_api(target_url)
        target = self._spawn_target()
        if base_url != target_url:
            wait_until_ready(target, f"{base_url}/healthz", READY_TIMEOUT_S, ok=lambda r: r.status_code == 200)
        self.journal.services["target"] = {"url": target_url, "pid": target.pid, "base_url": base_url}
        self._start_chaos_control()

        runtime = Runtime(
            run_dir=str(self.run_dir.resolve()),
            scenario_file=str((self.run_dir / "scenario.yaml").resolve()),
            base_url=base_url,
            target_url=target_url,
            proxy_api=proxy_api,
            proxy_name=self.proxy_name if proxy_api else None,
            client_id=CLIENT_ID,
            seed=self.scenario.seed,
            netns=self._chaos.link.netns if self._chaos is not None and self._chaos.link is not None else None,
            choices=self._ui_choices(),
        )
        runtime.save(self.run_dir / "runtime.json")
        self.journal.event("services_ready", f"target {target_url}, clients use {base_url}")

    def _drive_load(self) -> None:
        assert self.journal is not None
        from harness.run import loadgen

        ui = {k: self.ui[k] for k in ("web_host", "web_port")} if self.ui is not None else {}
        mode = loadgen.LoadMode(workers=self.workers, ui=self.ui is not None, **ui)
        chaos_env = {**self._chaos_env, **self._target_chaos_env}
        spawn = lambda name, argv, env: self._spawn(  # noqa: E731
            name, argv, env={**env, **chaos_env, **self._user_env}
        )
        load = loadgen.start(spawn, self.journal, self.run_dir, self.secret, mode)
        try:
            if mode.ui:
                self._serve_ui(load)
            else:
                self._watch(load.master)
                self._check_load_made_records(load.master)
                load.check_exit(self.journal)
        finally:
            load.stop_workers(self.journal)

    def _serve_ui(self, load: Any) -> None:
        """Until Ctrl-C, which is how a web-UI session ends: a normal end, judged like any run (a second
        Ctrl-C while Locust winds down is an interruption, as in headless runs)."""
        assert self.journal is not None
        try:
            load.wait_ui(Progress(self.run_dir / "timeline.jsonl").print_new)
        except Interrupted as exc:
            self._signals.clear()
            self.journal.event("ui_closed", f"{exc} ended the web UI session")
            print("\nharness: closing the web UI: stopping Locust, then the report", file=sys.stderr)
            load.quit_ui(self.journal, LOCUST_STOP_S)
        self._adopt_ui_choice()

    def _ui_choices(self) -> tuple[ScenarioChoice, ...]:
        """`harness ui`: the scenarios its start form offers: this one first, then those beside its file
        and the shipped ones that run on the services started for it, each resolved into choices/."""
        if self.ui is None:
            return ()
        from harness.run.loadgen import plan_text
        from harness.scenario.catalog import candidates, conflict

        assert self.journal is not None
        own = self.run_dir / "scenario.yaml"
        offered = [ScenarioChoice(name=self.scenario.name, file=str(own.resolve()), plan=plan_text(self.scenario))]
        left_out = []
        scale = float(self.ui.get("duration_scale", 1.0))
        for path, candidate in candidates(self.scenario, self.source):
            candidate = candidate.scaled(scale) if scale != 1.0 else candidate
            reason = conflict(candidate, self.scenario)
            if reason is not None:
                left_out.append(f"{candidate.name} ({reason})")
                continue
            copy = self.run_dir / "choices" / f"{candidate.name}.yaml"
            copy.parent.mkdir(exist_ok=True)
            copy.write_text(resolved_yaml(candidate), encoding="utf-8")
            offered.append(ScenarioChoice(name=candidate.name, file=str(copy.resolve()), plan=plan_text(candidate)))
            self._choice_sources[candidate.name] = path
        detail = ", ".join(c.name for c in offered[1:]) or "none"
        self.journal.event("ui_choices", f"also offered: {detail}; not offered: {', '.join(left_out) or 'none'}")
        return tuple(offered)

    def _adopt_ui_choice(self) -> None:
        """The web UI's form may have picked another scenario (the Locust side wrote it as scenario.yaml):
        from here on, the journal and the report speak of that one."""
        assert self.journal is not None
        chosen = load_scenario(self.run_dir / "scenario.yaml")
        if chosen.name == self.scenario.name:
            return
        self.journal.scenario = _journal_scenario(chosen, self._choice_sources.get(chosen.name, self.source))
        self.journal.event("scenario_selected", f"the web UI ran {chosen.name} instead of {self.scenario.name}")
        self.scenario = chosen

    def _check_load_made_records(self, locust: ManagedProcess) -> None:
        """A run whose simulated users all crashed has no failed SLO to show for it; say so loudly."""
        if not shard_paths(self.run_dir / "records", "operations"):
            raise InfrastructureError(
                f"the load made no request at all (did every simulated user fail?); last lines of "
                f"{locust.log_path}:\n{locust.tail()}"
            )

    def _use_external(self, target: ExternalTarget) -> None:
        """An external provider: nothing to start; the flows discover its endpoints from the issuer and
        read their credentials from the environment variables the scenario names."""
        assert self.journal is not None
        issuer = target.issuer.rstrip("/")
        self._secret_values += [os.environ.get(target.client_secret_env, ""), os.environ.get(target.password_env, "")]
        Runtime(
            run_dir=str(self.run_dir.resolve()),
            scenario_file=str((self.run_dir / "scenario.yaml").resolve()),
            base_url=issuer,
            target_url=issuer,
            client_id=os.environ.get(target.client_id_env, ""),
            seed=self.scenario.seed,
        ).save(self.run_dir / "runtime.json")
        self.journal.services["target"] = {"kind": "external", "issuer": issuer, "allow": list(target.allow)}
        self.journal.event("services_ready", f"external provider {issuer}")

    def _watch(self, locust: ManagedProcess) -> None:
        """Once a second until the load ends: show progress, keep the journal current, judge the stop
        conditions, and notice a service that died."""
        assert self.journal is not None
        deadline = time.monotonic() + self.scenario.duration_s + LOCUST_GRACE_S
        timeline = self.run_dir / "timeline.jsonl"
        progress = Progress(timeline)
        conditions = self.scenario.stop_conditions
        horizon = max((c.window_s for c in conditions), default=1.0)
        live = LiveRecords(self.run_dir / "records", horizon_s=horizon + 2.0)
        while locust.alive():
            self._check_signals()
            if time.monotonic() > deadline:
                raise InfrastructureError(f"locust did not finish within the scenario's time; see {locust.log_path}")
            locust.wait(WATCH_INTERVAL_S)
            progress.print_new()
            self.journal.fold(read_jsonl(timeline))
            self.journal.write()
            self._check_services()
            if conditions and live.poll() >= 0:
                trigger = first_trigger(conditions, live, time.time())
                if trigger is not None:
                    raise StopConditionTriggered(trigger)
        progress.print_new()
        self._check_signals()

    def _check_signals(self) -> None:
        if self._signals:
            raise Interrupted(self._signals[0])

    def _check_services(self) -> None:
        for name in ("target", "proxy"):
            process = self.processes.get(name)
            if name == "target" and self._chaos is not None and self._chaos.target_down_intended():
                continue  # a process fault took it down on purpose and restarts it
            if process is not None and not process.alive():
                raise InfrastructureError(
                    f"the {name} (pid {process.pid}) died with exit code {process.returncode()} during the run; "
                    f"last lines of {process.log_path}:\n{process.tail()}"
                )

    def _probe_steady_state(self) -> dict[str, Any]:
        """A few token requests along the clients' path, no retries: does the service work right now?"""
        from harness.clients.classify import classify_exception, classify_status
        from harness.clients.transport import make_session

        if isinstance(self.scenario.target, ExternalTarget):
            return {"ts": time.time(), "ok": None, "detail": "not probed: external provider (its load is the probe)"}
        runtime = Runtime.load(self.run_dir / "runtime.json")
        outcomes: list[str] = []
        with make_session() as session:
            for _ in range(STEADY_STATE_PROBES):
                try:
                    response = session.post(
                        f"{runtime.base_url}/token",
                        data={"grant_type": "client_credentials"},
                        auth=(CLIENT_ID, self.secret),
                        timeout=(2.0, 5.0),
                    )
                    outcomes.append(classify_status(response.status_code))
                except Exception as exc:  # an unreachable service is a failed probe, not a crash
                    outcomes.append(classify_exception(exc))
        ok = outcomes.count("ok")
        detail = f"{ok}/{len(outcomes)} token requests succeeded; outcomes {sorted(set(outcomes))}"
        return {"ts": time.time(), "ok": ok == len(outcomes), "detail": detail}

    # --- every exit path -------------------------------------------------------------------------

    def _roll_back(self) -> None:
        """Stop the load first (its timeline removes its own faults), then reset the proxy and check."""
        assert self.journal is not None
        locust = self.processes.get("locust")
        if locust is not None and locust.alive():
            # SIGINT, not SIGTERM: Locust 2.47 turns Ctrl-C into its graceful shutdown (quitting handlers
            # remove active faults and flush records), while its SIGTERM handler never gets installed
            # in headless shape runs (the process dies with the default action)
            locust.signal(signal.SIGINT)
            deadline = time.monotonic() + LOCUST_STOP_S
            while locust.alive() and time.monotonic() < deadline and not self._force:
                locust.wait(0.1)
            if locust.alive():
                locust.stop(timeout_s=0.5)
            self.journal.rollback_step("stop load", True, f"locust exit code {locust.returncode()}")
        self._roll_back_host_faults()
        self._reset_target_chaos()
        if self.proxy_client is None:
            return
        self._save_proxy_counters()
        try:
            if self.scenario.proxy.kind == "embedded":
                self.proxy_client.reset()  # our own proxy process: nothing on it is anyone else's
                left = self.proxy_client.get_proxies()
            else:
                left = self._remove_own_proxy()
            leftover = {name: [t["name"] for t in p.get("toxics", [])] for name, p in left.items() if p.get("toxics")}
            if leftover:
                self.journal.rollback_step("remove faults", False, f"toxics still present: {leftover}")
            else:
                self.journal.rollback_step("remove faults", True, "no toxic remains on the proxy")
        except Exception as exc:
            proxy = self.processes.get("proxy")
            gone = proxy is not None and not proxy.alive()
            detail = "proxy process is gone, so are its faults" if gone else f"{type(exc).__name__}: {exc}"
            self.journal.rollback_step("remove faults", gone, detail)

    def _save_proxy_counters(self) -> None:
        """The proxy's own count of faults injected, so the report can set it beside the configured rate."""
        try:
            (self.run_dir / "proxy-metrics.txt").write_text(self.proxy_client.metrics(), encoding="utf-8")
        except Exception as exc:  # a dead proxy has no counters; the report says "not measured"
            assert self.journal is not None
            self.journal.event("proxy_counters_unavailable", f"{type(exc).__name__}: {exc}")

    def _remove_own_proxy(self) -> dict[str, Any]:
        """On a shared proxy: delete our toxics and our proxy, nothing else; return what is left of ours."""
        if not self._created_proxy:
            return {}
        proxies = self.proxy_client.get_proxies()
        ours = proxies.get(self.proxy_name)
        if ours is not None:
            for toxic in ours.get("toxics", []):
                self.proxy_client.remove_toxic(self.proxy_name, toxic["name"])
            self.proxy_client.delete_proxy(self.proxy_name)
        return {k: v for k, v in self.proxy_client.get_proxies().items() if k == self.proxy_name}

    def _check_external_proxy(self) -> None:
        try:
            self.proxy_client.get_proxies()
        except Exception as exc:
            raise InfrastructureError(f"the proxy API at {self.proxy_client.api_url} does not answer: {exc}") from exc

    def _stop_services(self) -> None:
        assert self.journal is not None
        for name in ("locust", "target", "proxy"):
            process = self.processes.get(name)
            if process is not None:
                code = process.stop()
                self.journal.rollback_step(f"stop {name}", True, f"pid {process.pid} exit code {code}")
        self._remove_namespace()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    # --- process and network faults (harness.chaos) ---------------------------------------------

    def _prepare_chaos(self) -> str:
        """The session for process/network faults; with target.netns, the run's namespace. Returns the
        address the target listens on: 127.0.0.1, or the namespace's end of the veth. Load may go to that
        address because the harness made it (a link-local /30 on a veth pair named after the run)."""
        from harness.chaos.session import ChaosSession

        self._chaos = ChaosSession(self.scenario, self.run_id, self.run_dir)
        link = self._chaos.prepare_network()
        if link is None:
            return "127.0.0.1"
        assert self.journal is not None
        self.journal.services["netns"] = {"name": link.netns, "veth": link.host_if, "host_addr": link.host_addr,
                                          "target_addr": link.ns_addr, "kernel": self._chaos.kernel}  # fmt: skip
        self.journal.event("netns_ready", f"{link.netns}: target at {link.ns_addr}; kernel {self._chaos.kernel}")
        return str(link.ns_addr)

    def _target_prefix(self) -> list[str]:
        from harness.chaos.netns import exec_prefix

        link = self._chaos.link if self._chaos is not None else None
        return exec_prefix(link) if link is not None else []

    def _spawn_target(self) -> ManagedProcess:
        """Start the target (again, after a process fault: same store, port and namespace) until ready."""
        old = self.processes.get("target")
        if old is not None:
            old.stop(timeout_s=1.0)  # closes its log handle; the process is already gone
        admin = {k: v for k, v in self._target_chaos_env.items() if k == Env.TARGET_ADMIN_TOKEN}
        env = {Env.CLIENT_ID: CLIENT_ID, Env.CLIENT_SECRET: self.secret, **admin}
        target = self._spawn("target", self._target_argv, env=env)
        ok = lambda r: r.status_code == 200  # noqa: E731
        wait_until_ready(target, f"{self._target_url}/healthz", READY_TIMEOUT_S, ok=ok)
        return target

    def _start_chaos_control(self) -> None:
        from harness.chaos.session import OrchestratedTarget

        target = OrchestratedTarget(
            lambda: self.processes.get("target"), self._spawn_target, self._target_url, (CLIENT_ID, self.secret)
        )
        self._chaos_env = self._chaos.start_control(target)
        if self._chaos.secret():
            self._secret_values.append(self._chaos.secret())

    # --- target_* faults: the embedded target's chaos API (harness/faults/target_*.py) ----------

    def _enable_target_chaos_api(self, target_url: str) -> None:
        """Only a scenario with target_* faults starts the target with its chaos API on; the admin token
        goes to the target and the Locust timeline by environment only (added to the secret scan)."""
        if not self.scenario.fault_types("target"):
            return
        token = secrets.token_urlsafe(32)
        self._secret_values.append(token)
        self._target_chaos_env = {Env.TARGET_CHAOS_URL: target_url, Env.TARGET_ADMIN_TOKEN: token}

    def _reset_target_chaos(self) -> None:
        """After the load stopped: every target-side fault off, whatever the timeline managed to remove."""
        assert self.journal is not None
        if not self._target_chaos_env:
            return
        from harness.faults.channels import TargetChaos

        chaos = TargetChaos.from_env(self._target_chaos_env)
        assert chaos is not None
        try:
            state = chaos.reset()
            self.journal.rollback_step("reset target chaos", True, f"target chaos state {state}")
        except Exception as exc:
            self.journal.rollback_step("reset target chaos", False, f"{type(exc).__name__}: {exc}")

    def _roll_back_host_faults(self) -> None:
        assert self.journal is not None
        if self._chaos is None:
            return
        for action, ok, detail in self._chaos.roll_back_faults():
            self.journal.rollback_step(action, ok, detail)
        for measured in self._chaos.processes.measurements if self._chaos.processes is not None else []:
            extra = {k: v for k, v in measured.items() if k not in ("kind", "ts")}
            self.journal.event(measured["kind"], str(measured.get("fault_toxic", "")), **extra)

    def _remove_namespace(self) -> None:
        assert self.journal is not None
        if self._chaos is None:
            return
        for action, ok, detail in self._chaos.remove_namespace():
            self.journal.rollback_step(action, ok, detail)

    def _close_journal(self, status: str) -> None:
        assert self.journal is not None
        self.journal.fold(read_jsonl(self.run_dir / "timeline.jsonl"))
        cleaned = [s for s in self.journal.rollback if s["action"] == "remove faults" and s["ok"]]
        for fault in self.journal.faults:
            if fault["applied_at"] is not None and fault["removed_at"] is None and cleaned:
                # the load ended before its timeline could remove it; the rollback's verified cleanup did
                fault["remove_asked_at"] = fault["remove_asked_at"] or cleaned[0]["ts"]
                fault["removed_at"], fault["removed_by"] = cleaned[0]["ts"], "rollback"
        self.journal.status = status
        self.journal.ended_at = time.time()
        self.journal.write()

    def _report(self, status: str, exit_code: int) -> int:
        assert self.journal is not None
        from harness.report.build import build_report

        try:
            result = build_report(self.run_dir)
        except Exception as exc:
            print(f"harness: the report could not be built: {type(exc).__name__}: {exc}", file=sys.stderr)
            return exit_code if status != "completed" else EXIT_INFRA
        leaks = scan_run_dir(self.run_dir, [self.secret, *self._secret_values])
        if leaks:
            for leak in leaks:
                print(f"harness: SECRET LEAK in the run directory: {leak}", file=sys.stderr)
            self.journal.errors.append(f"secret scan failed: {', '.join(map(str, leaks))}")
            exit_code = EXIT_INFRA
        elif status == "completed":
            exit_code = result.exit_code
        if status == "failed" or (status == "completed" and exit_code != 0):
            self.journal.status = "failed"
        self.journal.exit_code = exit_code
        self.journal.write()
        print_verdict(result.summary, result.report_html)
        return exit_code

    # --- helpers ---------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> ManagedProcess:
        locust = "locust" in argv[:3]  # `python -m locust`: master, local process or worker
        stop_signal = signal.SIGINT if locust else signal.SIGTERM
        process = ManagedProcess(name, argv, self.logs / f"{name}.log", env or {}, stop_signal).start()
        self.processes[name] = process
        assert process.pid is not None
        self.registration.children.append(
            {"name": name, "pid": process.pid, "start_ticks": process_start_ticks(process.pid)}
        )
        self.active.save(self.registration)
        return process

    def _note_error(self, message: str) -> None:
        if self.journal is not None:
            self.journal.errors.append(message)
            self.journal.event("error", message)
