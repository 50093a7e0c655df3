"""The services of one run, started in order and ended in reverse: the network namespace (with
target.netns), the fault proxy (ours, or a proxy of our own on a shared Toxiproxy), the embedded target
behind it, the chaos control channel; or, for an external provider, its discovery document read first and
one proxy per allowed origin of it (harness.run.origins). `start()` writes `runtime.json` for the load
processes; `check()` notices a service that died; `probe()` is the steady-state check before and after;
`stop()` ends every process the run started, by its PID, and removes the namespace and the scratch
directory (the target's store, the run's CA and every private key: never in the run directory).

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

import requests

from harness.chaos.netns import exec_prefix
from harness.chaos.procs import process_start_ticks
from harness.chaos.session import ChaosSession, OrchestratedTarget, PendingKind
from harness.clients.classify import classify_exception, classify_response
from harness.clients.transport import make_session, origin_of, origin_url, runtime_origins
from harness.clients.users import read_users_file
from harness.contract import (
    SEEDED_USERS,
    Env,
    OriginRoute,
    Runtime,
    ScenarioChoice,
    seeded_password,
    seeded_username,
)
from harness.errors import InfrastructureError
from harness.faults.channels import TargetChaos
from harness.run.journal import Journal
from harness.run.leftovers import SCRATCH_PREFIX, ActiveRuns, Registration
from harness.run.origins import ProviderMap, allowed, discovery_url, read_provider
from harness.run.proxies import RunProxies
from harness.run.remote import url_host
from harness.run.rollback import ProxyInUse
from harness.run.services import ManagedProcess, free_port, python_module, wait_until_ready
from harness.scenario.model import EmbeddedTarget, ExternalTarget, NoProxy, Scenario
from harness.tlsca import LeafFiles, RunCA

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


def _request(session: requests.Session, token_url: str, client: tuple[str, str]) -> str:
    """One client_credentials token request's outcome."""
    try:
        response = session.post(token_url, data={"grant_type": "client_credentials"}, auth=client,
                                timeout=(2.0, 5.0), allow_redirects=False)  # fmt: skip
        return classify_response(response)
    except Exception as exc:  # an unreachable service is a failed probe, not a crash
        return classify_exception(exc)


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
        config = scenario.proxy
        self.proxies = None if isinstance(config, NoProxy) else RunProxies(
            config, scenario.seed, self.run_id, self.spawn, self._shared_proxy, listen)
        self.chaos: ChaosSession | None = None
        self.target_chaos: TargetChaos | None = None
        self.runtime: Runtime | None = None
        self.secret_values: list[str] = [self.secret]  # every secret the run handles: the secret scan's list
        self._scratch: Path | None = None
        self._load_env: dict[str, str] = {}  # what Locust gets besides the client secret
        self._target_env: dict[str, str] = {}
        self._target_argv: list[str] = []
        self._target_url = ""
        self._base_url: str | None = None  # where clients go (the proxy, if any): plugin faults' context
        self._ca: RunCA | None = None  # the run's CA, made on first need in the scratch directory
        self._leaves: dict[tuple[str, ...], LeafFiles] = {}

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

    @property
    def proxy(self) -> ProxyInUse | None:
        return self.proxies.in_use if self.proxies is not None else None

    def _scratch_dir(self) -> Path:
        if self._scratch is None:  # keys and hashes stay out of reports
            self._scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
            self.registration.scratch = str(self._scratch)  # removed by `harness cleanup` after a crash
            self.active.save(self.registration)
        return self._scratch

    def _run_ca(self) -> RunCA:
        if self._ca is None:
            self._ca = RunCA.create(self._scratch_dir() / "ca")
        return self._ca

    def _start_embedded(self, target: EmbeddedTarget, choices: tuple[ScenarioChoice, ...]) -> Runtime:
        scratch = self._scratch_dir()
        target_host = self._prepare_namespace()  # in the run's namespace, the port is free there
        if target_host == "127.0.0.1" and self.listen is not None:
            target_host = self.listen  # --listen: workers on other machines reach the target there
        target_port = free_port(target_host if target_host == self.listen else "127.0.0.1")
        scheme = "https" if target.tls else "http"
        self._target_url = f"{scheme}://{url_host(target_host)}:{target_port}"
        tls_args: list[str] = []
        listen = None
        if target.tls:  # the target's certificate from the run's CA (harness.idp.tls keeps files it finds)
            ca = self._run_ca()
            ca.issue(["localhost", "127.0.0.1", target_host], "server", scratch / "target-tls")
            shutil.copyfile(ca.cert_path, scratch / "target-tls" / "ca.pem")
            tls_args = ["--tls", "--tls-dir", str(scratch / "target-tls")]
        if self.proxies is not None:
            names = ["127.0.0.1", "localhost", *([self.listen] if self.listen is not None else [])]
            _, listen = self.proxies.add(f"{url_host(target_host)}:{target_port}", **self._tls_fields(
                target.tls, names, target_host, str(self._ca.cert_path) if self._ca else None))
            self._note_proxies()
        base_url = f"{scheme}://{listen}" if listen else self._target_url
        self._base_url = base_url
        self._target_argv = [*self._namespace_prefix(), *python_module(
            "harness", "target", "--host", target_host, "--port", str(target_port),
            "--db", str(scratch / "target.sqlite3"), "--issuer", base_url,
            "--seed-users", str(SEEDED_USERS), "--signing-alg", target.signing_alg, "--workers", str(target.workers),
            "--audit-log", str(self.logs / "audit.jsonl"),
            "--request-log", str(self.logs / "requests.jsonl"),  # per request: fidelity checks
            *tls_args,
        )]  # fmt: skip
        self._load_env = seeded_user_env()
        self.secret_values += seeded_passwords()
        self._target_env = {Env.CLIENT_ID: self.client_id, Env.CLIENT_SECRET: self.secret}
        if self.scenario.fault_types("target"):  # only then is the target's chaos API switched on
            token = secrets.token_urlsafe(32)
            self.secret_values.append(token)
            self._target_env[Env.TARGET_ADMIN_TOKEN] = token
            self._load_env |= {Env.TARGET_CHAOS_URL: self._target_url, Env.TARGET_ADMIN_TOKEN: token}
            self.target_chaos = TargetChaos(self._target_url, token, ca_file=self._ca_file())
        process = self.spawn_target()
        if base_url != self._target_url:
            wait_until_ready(process, f"{base_url}/healthz", READY_TIMEOUT_S, ok=_healthy, verify=self._verify())
        self.journal.services["target"] = {"url": self._target_url, "pid": process.pid, "base_url": base_url,
                                           "listen": self.listen or "127.0.0.1",
                                           **({"tls": True} if target.tls else {})}  # fmt: skip
        self._start_chaos_control(OrchestratedTarget(lambda: self.processes.get("target"), self.spawn_target,
                                                     self._target_url, (self.client_id, self.secret), self._verify()))
        self.journal.event("services_ready", f"target {self._target_url}, clients use {base_url}")
        if target.tls:
            self.journal.event("tls", "TLS on every hop: clients -> " + ("proxy (its certificate from the run's CA) -> "
                               if listen else "") + "target (https, its certificate from the run's CA)")  # fmt: skip
        link = self.chaos.link if self.chaos is not None else None
        proxy = self.proxy
        origins = (OriginRoute(origin=origin_url(origin_of(base_url)), upstream=f"{target_host}:{target_port}",
                               listen=base_url.split("://", 1)[1], proxy_name=proxy.name if proxy else None,
                               tls=True),) if target.tls else ()  # fmt: skip
        return Runtime(
            run_dir=str(self.run_dir.resolve()), scenario_file=str((self.run_dir / "scenario.yaml").resolve()),
            base_url=base_url, target_url=self._target_url, proxy_api=self.proxies.api_url if self.proxies else None,
            proxy_name=proxy.name if proxy is not None else None, client_id=self.client_id,
            seed=self.scenario.seed, netns=link.netns if link is not None else None, choices=choices,
            origins=origins, ca_file=self._ca_file(),
        )  # fmt: skip

    def _ca_file(self) -> str | None:
        return str(self._ca.cert_path) if self._ca is not None else None

    def _verify(self) -> str | bool:
        return self._ca_file() or True

    def _tls_fields(self, tls: bool, client_names: list[str], server_name: str,
                    upstream_ca: str | None) -> dict[str, dict[str, str] | None]:  # fmt: skip
        """A proxy's TLS fields for an https origin: its listener's certificate from the run's CA for the
        names clients use, and TLS again towards the upstream with its name (and CA bundle, if any)."""
        if not tls:
            return {"listen_tls": None, "upstream_tls": None}
        names = tuple(client_names)
        if names not in self._leaves:  # one certificate for every name the run's proxies answer to
            self._leaves[names] = self._run_ca().issue([*names, "127.0.0.1", "localhost"], f"proxy-{len(self._leaves)}")
        leaf = self._leaves[names]
        upstream = {"server_name": server_name, **({"ca": upstream_ca} if upstream_ca else {})}
        return {"listen_tls": {"cert": str(leaf.cert), "key": str(leaf.key)}, "upstream_tls": upstream}

    def _shared_proxy(self, shared: dict[str, Any]) -> None:
        self.registration.shared_proxy = shared
        self.active.save(self.registration)

    def _note_proxies(self) -> None:
        """The journal names the run's proxies as soon as each exists (as the registration does)."""
        if self.proxies is not None and self.proxies.made:
            process = self.proxies.process
            self.journal.services["proxy"] = {"kind": self.scenario.proxy.kind, "api": self.proxies.api_url,
                                              "name": self.proxies.made[0]["name"],
                                              "listen": self.proxies.made[0]["listen"],
                                              "pid": process.pid if process else None,
                                              "proxies": self.proxies.made}  # fmt: skip

    def _use_external(self, target: ExternalTarget) -> Runtime:
        """An external provider: nothing to start. With a proxy, its discovery document is read first and
        each allowed origin gets a proxy; the flows keep the provider's URLs and connect to the proxies."""
        issuer = target.issuer.rstrip("/")
        self.secret_values += [os.environ.get(target.client_secret_env, ""), os.environ.get(target.password_env, "")]
        if users_file := os.environ.get(target.users_file_env):  # checked before the run started
            self.secret_values += [user.password for user in read_users_file(users_file)]
        self.journal.services["target"] = {"kind": "external", "issuer": issuer, "allow": list(target.allow)}
        origins: tuple[OriginRoute, ...] = ()
        endpoints: dict[str, str] = {}
        if self.proxies is not None:
            provider = read_provider(target)  # discovery first: which origins the flows use
            origins, endpoints = self._proxy_origins(target, provider), provider.endpoints
        self._base_url = issuer
        self._start_chaos_control(None)
        self.journal.event("services_ready", f"external provider {issuer}" + (
            f", {len(origins)} origin(s) behind the proxy" if origins else ""))  # fmt: skip
        if any(o.tls for o in origins):
            self.journal.event("tls", "TLS on both hops: clients -> proxy (its certificate from the run's CA) -> "
                                      "provider (verified, SNI and Host the provider's name)")  # fmt: skip
        proxy = self.proxy
        return Runtime(
            run_dir=str(self.run_dir.resolve()), scenario_file=str((self.run_dir / "scenario.yaml").resolve()),
            base_url=issuer, target_url=issuer, client_id=os.environ.get(target.client_id_env, ""),
            seed=self.scenario.seed, proxy_api=self.proxies.api_url if self.proxies else None,
            proxy_name=proxy.name if proxy is not None else None, origins=origins, ca_file=self._ca_file(),
            endpoints=endpoints,
        )  # fmt: skip

    def _proxy_origins(self, target: ExternalTarget, provider: ProviderMap) -> tuple[OriginRoute, ...]:
        assert self.proxies is not None
        self.journal.services["provider"] = {"issuer": provider.issuer, "endpoints": provider.endpoints,
                                             "outside_allow": provider.outside}  # fmt: skip
        if provider.error:
            self.journal.event("discovery_failed", provider.error + "; only the issuer's origin is proxied")
        if provider.outside:
            self.journal.event("outside_allow", "neither proxied nor called: " + ", ".join(
                f"{name} {url}" for name, url in sorted(provider.outside.items())))  # fmt: skip
        names = [o.server_name for o in provider.origins if o.tls]
        routes = []
        for planned in provider.origins:
            host, port = planned.upstream
            name, listen = self.proxies.add(f"{host}:{port}", **self._tls_fields(
                planned.tls, names, planned.server_name, target.ca_bundle))  # fmt: skip
            routes.append(OriginRoute(origin=planned.url, upstream=f"{host}:{port}", listen=listen, proxy_name=name,
                                      tls=planned.tls, endpoints=planned.endpoints))  # fmt: skip
            self._note_proxies()
        return tuple(routes)

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
        wait_until_ready(target, f"{self._target_url}/healthz", READY_TIMEOUT_S, ok=_healthy, verify=self._verify())
        return target

    def load_env(self) -> dict[str, str]:
        """What every load process gets: the client secret, the seeded users, the fault channels."""
        return {Env.CLIENT_SECRET: self.secret, **self._load_env}

    # --- process and network faults (harness.chaos) -----------------------------------------------

    def _prepare_namespace(self) -> str:
        """The session for process/network faults; with target.netns, the run's namespace. Returns the
        address the target listens on: 127.0.0.1, or the namespace's end of the veth. Load may go to that
        address because the harness made it (a link-local /30 on a veth pair named after the run)."""
        self.chaos = ChaosSession(self.scenario, self.run_id, self.run_dir, self._pending)
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

    def _pending(self, kind: PendingKind, pending: list[dict[str, Any]]) -> None:
        """Command reverts not run yet and plugin faults not reverted yet, for `harness cleanup` should the
        orchestrator die."""
        if kind == "commands":
            self.registration.commands = pending
        else:
            self.registration.plugin_faults = pending
        self.active.save(self.registration)

    def _start_chaos_control(self, target: OrchestratedTarget | None) -> None:
        """The control channel for process, network, command and plugin faults (only when the scenario has
        some)."""
        if self.chaos is None:
            self.chaos = ChaosSession(self.scenario, self.run_id, self.run_dir, self._pending)
        env = self.chaos.start_control(target, self._base_url)
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
        """A few checks along the clients' path (the proxy, the origin map), no retries: does the service
        work right now? The embedded target: a token request each. An external provider: its discovery
        document and one token request with the configured client credentials, each."""
        if self.runtime is None:
            return {"ts": time.time(), "ok": None, "detail": "not probed: the services did not start"}
        target = self.scenario.target
        outcomes: list[str] = []
        with make_session(origins=runtime_origins(self.runtime, target)) as session:
            for _ in range(STEADY_STATE_PROBES):
                if isinstance(target, ExternalTarget):
                    outcomes.append(self._probe_external(session, target))
                else:
                    outcomes.append(_request(session, f"{self.runtime.base_url}/token", (self.client_id, self.secret)))
        ok = outcomes.count("ok")
        what = "discovery + token checks" if isinstance(target, ExternalTarget) else "token requests"
        detail = f"{ok}/{len(outcomes)} {what} succeeded; outcomes {sorted(set(outcomes))}"
        return {"ts": time.time(), "ok": ok == len(outcomes), "detail": detail}

    @staticmethod
    def _probe_external(session: requests.Session, target: ExternalTarget) -> str:
        try:
            response = session.get(discovery_url(target), timeout=(2.0, 5.0), allow_redirects=False)
            if classify_response(response) != "ok":
                return classify_response(response)
            token_url = response.json().get("token_endpoint")
        except Exception as exc:  # an unreachable provider is a failed probe, not a crash
            return classify_exception(exc)
        if not isinstance(token_url, str) or not allowed(target, origin_of(token_url)[1]):
            return "protocol_error"  # no token endpoint the load may call
        client = (os.environ.get(target.client_id_env, ""), os.environ.get(target.client_secret_env, ""))
        return _request(session, token_url, client)

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
