"""The services of one run, started in order and ended in reverse: the network namespace (with
target.netns), the fault proxy (ours, or a proxy of our own on a shared Toxiproxy), the embedded target
behind it, the chaos control channel; or, for an external provider, nothing but its address. `start()`
writes `runtime.json` for the load processes; `check()` notices a service that died; `stop()` ends every
process the run started, by its PID, and removes the namespace.

Every child runs in its own session (a terminal Ctrl-C reaches only the orchestrator) and is registered
in the leftovers registry, so a later run cleans up after this one if it crashes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.chaos.netns import exec_prefix
from harness.chaos.procs import process_start_ticks
from harness.chaos.session import ChaosSession, OrchestratedTarget
from harness.clients.classify import classify_exception, classify_status
from harness.clients.transport import make_session
from harness.contract import SEEDED_USERS, Env, Runtime, ScenarioChoice, seeded_password, seeded_username
from harness.errors import InfrastructureError
from harness.faults.channels import TargetChaos
from harness.proxy.client import ToxiproxyClient
from harness.run.journal import Journal
from harness.run.leftovers import ActiveRuns, Registration
from harness.run.remote import url_host
from harness.run.rollback import ProxyInUse
from harness.run.services import ManagedProcess, free_port, python_module, wait_until_ready
from harness.scenario.model import EmbeddedTarget, ExternalTarget, Scenario

PROXY_NAME = "sso"
CLIENT_ID = "harness-load"
READY_TIMEOUT_S = 30.0
STEADY_STATE_PROBES = 5


def seeded_user_env(count: int = SEEDED_USERS) -> dict[str, str]:
    """The embedded target seeds `count` users by a documented rule; simulated user i signs in as seeded
    user i mod count + 1 (harness.clients.flows), user0001 where a flow has no index."""
    name = seeded_username(1, count)
    return {Env.USERNAME: name, Env.PASSWORD: seeded_password(name), Env.USER_COUNT: str(count)}


def seeded_passwords(count: int = SEEDED_USERS) -> list[str]:
    """Every seeded user's password, for the secret scan."""
    return [seeded_password(seeded_username(i, count)) for i in range(1, count + 1)]


def _healthy(response: Any) -> bool:
    return bool(response.status_code == 200)


class Stack:
    def __init__(self, scenario: Scenario, run_dir: Path, journal: Journal, active: ActiveRuns,
                 registration: Registration, listen: str | None = None):  # fmt: skip
        self.scenario, self.run_dir, self.journal = scenario, run_dir, journal
        self.active, self.registration = active, registration
        self.listen = listen  # --listen: target and proxy on this address of the machine, not loopback
        self.run_id = registration.run_id
        self.logs = run_dir / "logs"
        # the load client's credentials, by environment only: fixed ones when given (workers on other
        # machines read the same variables from theirs), else made up for this run
        self.client_id = os.environ.get(Env.CLIENT_ID) or CLIENT_ID
        self.secret = os.environ.get(Env.CLIENT_SECRET) or secrets.token_urlsafe(32)
        self.processes: dict[str, ManagedProcess] = {}
        self.proxy: ProxyInUse | None = None
        self.chaos: ChaosSession | None = None
        self.target_chaos: TargetChaos | None = None
        self.runtime: Runtime | None = None
        self.secret_values: list[str] = [self.secret]  # every secret the run handles: the secret scan's list
        self._scratch: Path | None = None
        self._load_env: dict[str, str] = {}  # what Locust gets besides the client secret
        self._target_env: dict[str, str] = {}
        self._target_argv: list[str] = []
        self._target_url = ""
        self._proxy_api_url: str | None = None

    # --- starting ---------------------------------------------------------------------------------

    def start(self, choices: tuple[ScenarioChoice, ...] = ()) -> Runtime:
        target = self.scenario.target
        if isinstance(target, ExternalTarget):
            runtime = self._use_external(target)
        else:
            runtime = self._start_embedded(target, choices)
        runtime.save(self.run_dir / "runtime.json")
        self.runtime = runtime
        return runtime

    def _start_embedded(self, target: EmbeddedTarget, choices: tuple[ScenarioChoice, ...]) -> Runtime:
        self._scratch = Path(tempfile.mkdtemp(prefix="harness-target-"))  # keys and hashes stay out of reports
        self.registration.scratch = str(self._scratch)  # saved with the first child: a crash must not leave keys
        target_host = self._prepare_namespace()  # in the run's namespace, the port is free there
        if target_host == "127.0.0.1" and self.listen is not None:
            target_host = self.listen
        target_port = free_port(target_host if target_host == self.listen else "127.0.0.1")
        self._target_url = f"http://{url_host(target_host)}:{target_port}"
        base_url = self._start_proxy(f"{target_host}:{target_port}") or self._target_url
        self._target_argv = [*self._namespace_prefix(), *python_module(
            "harness", "target", "--host", target_host, "--port", str(target_port),
            "--db", str(self._scratch / "target.sqlite3"), "--issuer", base_url,
            "--seed-users", str(SEEDED_USERS), "--signing-alg", target.signing_alg, "--workers", str(target.workers),
            "--audit-log", str(self.logs / "audit.jsonl"),
            "--request-log", str(self.logs / "requests.jsonl"),  # per request: fidelity checks
        )]  # fmt: skip
        self._load_env = seeded_user_env()
        self.secret_values += seeded_passwords()
        self._target_env = {Env.CLIENT_ID: self.client_id, Env.CLIENT_SECRET: self.secret}
        if self.scenario.fault_types("target"):  # only then is the target's chaos API switched on
            token = secrets.token_urlsafe(32)
            self.secret_values.append(token)
            self._target_env[Env.TARGET_ADMIN_TOKEN] = token
            self._load_env |= {Env.TARGET_CHAOS_URL: self._target_url, Env.TARGET_ADMIN_TOKEN: token}
            self.target_chaos = TargetChaos(self._target_url, token)
        process = self.spawn_target()
        if base_url != self._target_url:
            wait_until_ready(process, f"{base_url}/healthz", READY_TIMEOUT_S, ok=_healthy)
        self.journal.services["target"] = {"url": self._target_url, "pid": process.pid, "base_url": base_url,
                                           "listen": self.listen or "127.0.0.1"}  # fmt: skip
        self._start_chaos_control()
        self.journal.event("services_ready", f"target {self._target_url}, clients use {base_url}")
        link = self.chaos.link if self.chaos is not None else None
        return Runtime(
            run_dir=str(self.run_dir.resolve()), scenario_file=str((self.run_dir / "scenario.yaml").resolve()),
            base_url=base_url, target_url=self._target_url, proxy_api=self._proxy_api_url,
            proxy_name=self.proxy.name if self.proxy is not None else None, client_id=self.client_id,
            seed=self.scenario.seed, netns=link.netns if link is not None else None, choices=choices,
        )  # fmt: skip

    def _start_proxy(self, upstream: str) -> str | None:
        """The proxy in front of the target; returns the address clients use (None: no proxy)."""
        config = self.scenario.proxy
        if config.kind == "none":
            return None
        name, process = PROXY_NAME, None
        if config.kind == "embedded":
            api_url = f"http://127.0.0.1:{free_port()}"
            argv = python_module("harness", "proxy", "--port", api_url.rsplit(":", 1)[1], "--seed",
                                 str(self.scenario.seed))  # fmt: skip
            if self.listen is not None:
                argv += ["--allow-listen", self.listen]  # its listeners there too; its API stays on loopback
            process = self.spawn("proxy", argv)
            wait_until_ready(process, f"{api_url}/version", READY_TIMEOUT_S)
        else:
            api_url = config.api.rstrip("/")
            # a shared proxy: our own proxy name, so that rollback touches nothing of anyone else's
            name = f"harness-{self.run_id}-{secrets.token_hex(3)}".lower()
        client = ToxiproxyClient(api_url)
        self._proxy_api_url = api_url
        if process is None:
            try:
                client.get_proxies()
            except Exception as exc:
                raise InfrastructureError(f"the proxy API at {api_url} does not answer: {exc}") from exc
            # registered before it exists: a signal or a crash during create_proxy still finds it by name
            self.registration.shared_proxy = {"api": api_url, "name": name}
            self.active.save(self.registration)
        self.proxy = ProxyInUse(client, name, ours=process is not None, process=process)
        listen = f"{url_host(self.listen)}:0" if self.listen is not None else "127.0.0.1:0"
        created = client.create_proxy(name, upstream=upstream, listen=listen)
        self.journal.services["proxy"] = {"kind": config.kind, "api": api_url, "name": name,
                                          "listen": created["listen"], "pid": process.pid if process else None}
        return f"http://{created['listen']}"

    def _use_external(self, target: ExternalTarget) -> Runtime:
        """An external provider: nothing to start; the flows discover its endpoints from the issuer and
        read their credentials from the environment variables the scenario names."""
        issuer = target.issuer.rstrip("/")
        self.secret_values += [os.environ.get(target.client_secret_env, ""), os.environ.get(target.password_env, "")]
        self.journal.services["target"] = {"kind": "external", "issuer": issuer, "allow": list(target.allow)}
        self.journal.event("services_ready", f"external provider {issuer}")
        return Runtime(
            run_dir=str(self.run_dir.resolve()), scenario_file=str((self.run_dir / "scenario.yaml").resolve()),
            base_url=issuer, target_url=issuer, client_id=os.environ.get(target.client_id_env, ""),
            seed=self.scenario.seed,
        )  # fmt: skip

    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> ManagedProcess:
        """Start a child in its own session, logging to logs/<name>.log, and register it as a leftover."""
        stop_signal = signal.SIGINT if "locust" in argv[:3] else signal.SIGTERM  # Locust quits gracefully on SIGINT
        process = ManagedProcess(name, argv, self.logs / f"{name}.log", dict(env or {}), stop_signal).start()
        self.processes[name] = process
        assert process.pid is not None
        self.registration.children.append(
            {"name": name, "pid": process.pid, "start_ticks": process_start_ticks(process.pid)}
        )
        self.active.save(self.registration)
        return process

    def spawn_target(self) -> ManagedProcess:
        """Start the target (again, after a process fault: same store, port and namespace) until ready."""
        old = self.processes.get("target")
        if old is not None:
            old.stop(timeout_s=1.0)  # closes its log handle; the process is already gone
        target = self.spawn("target", self._target_argv, env=self._target_env)
        wait_until_ready(target, f"{self._target_url}/healthz", READY_TIMEOUT_S, ok=_healthy)
        return target

    def load_env(self) -> dict[str, str]:
        """What every load process gets: the client secret, the seeded users, the fault channels."""
        return {Env.CLIENT_SECRET: self.secret, **self._load_env}

    # --- process and network faults (harness.chaos) -----------------------------------------------

    def _prepare_namespace(self) -> str:
        """The session for process/network faults; with target.netns, the run's namespace. Returns the
        address the target listens on: 127.0.0.1, or the namespace's end of the veth. Load may go to that
        address because the harness made it (a link-local /30 on a veth pair named after the run)."""
        self.chaos = ChaosSession(self.scenario, self.run_id, self.run_dir)
        link = self.chaos.prepare_network()
        if link is None:
            return "127.0.0.1"
        self.journal.services["netns"] = {"name": link.netns, "veth": link.host_if, "host_addr": link.host_addr,
                                          "target_addr": link.ns_addr, "kernel": self.chaos.kernel}  # fmt: skip
        self.journal.event("netns_ready", f"{link.netns}: target at {link.ns_addr}; kernel {self.chaos.kernel}")
        return str(link.ns_addr)

    def _namespace_prefix(self) -> list[str]:
        link = self.chaos.link if self.chaos is not None else None
        return exec_prefix(link) if link is not None else []

    def _start_chaos_control(self) -> None:
        assert self.chaos is not None
        target = OrchestratedTarget(
            lambda: self.processes.get("target"), self.spawn_target, self._target_url, (self.client_id, self.secret)
        )
        env = self.chaos.start_control(target)
        self._load_env |= env
        if self.chaos.secret():
            self.secret_values.append(str(self.chaos.secret()))

    # --- while running ----------------------------------------------------------------------------

    def check(self) -> None:
        """Raise InfrastructureError when the target or our proxy died (unless a fault took it down)."""
        for name in ("target", "proxy"):
            process = self.processes.get(name)
            if name == "target" and self.chaos is not None and self.chaos.target_down_intended():
                continue  # a process fault took it down on purpose and restarts it
            if process is not None and not process.alive():
                raise InfrastructureError(
                    f"the {name} (pid {process.pid}) died with exit code {process.returncode()} during the run; "
                    f"last lines of {process.log_path}:\n{process.tail()}"
                )

    def probe(self) -> dict[str, Any]:
        """A few token requests along the clients' path, no retries: does the service work right now?"""
        if isinstance(self.scenario.target, ExternalTarget) or self.runtime is None:
            return {"ts": time.time(), "ok": None, "detail": "not probed: external provider (its load is the probe)"}
        outcomes: list[str] = []
        with make_session() as session:
            for _ in range(STEADY_STATE_PROBES):
                try:
                    response = session.post(f"{self.runtime.base_url}/token",
                                            data={"grant_type": "client_credentials"},
                                            auth=(self.client_id, self.secret),
                                            timeout=(2.0, 5.0))  # fmt: skip
                    outcomes.append(classify_status(response.status_code))
                except Exception as exc:  # an unreachable service is a failed probe, not a crash
                    outcomes.append(classify_exception(exc))
        ok = outcomes.count("ok")
        detail = f"{ok}/{len(outcomes)} token requests succeeded; outcomes {sorted(set(outcomes))}"
        return {"ts": time.time(), "ok": ok == len(outcomes), "detail": detail}

    # --- stopping ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Every process the run started, load first, by PID; then the namespace and the scratch store."""
        for name in ("locust", "target", "proxy"):
            process = self.processes.get(name)
            if process is not None:
                code = process.stop()
                self.journal.rollback_step(f"stop {name}", True, f"pid {process.pid} exit code {code}")
        if self.chaos is not None:
            for action, ok, detail in self.chaos.remove_namespace():
                self.journal.rollback_step(action, ok, detail)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
