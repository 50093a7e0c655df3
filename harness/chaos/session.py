"""One run's process and network faults, as the orchestrator sees them: prepare the namespace (root
only), start the control channel once the target is up, and undo everything on every exit path."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import requests

from harness.chaos import leftovers
from harness.chaos.command import Commands
from harness.chaos.control import ControlServer, HostFaults
from harness.chaos.netfaults import NetFaults, probe
from harness.chaos.netns import Link, Namespace, host_addresses
from harness.chaos.plugin import PluginFaults, Where
from harness.chaos.process import ProcessFaults
from harness.contract import HostEvent
from harness.errors import InputError
from harness.faults import FAULT_TYPES
from harness.faults.base import NetworkFault
from harness.scenario.model import EmbeddedTarget, Scenario


class EventLog:
    """Appends events to the run's timeline.jsonl beside the Locust timeline's own (one short line per
    write, O_APPEND, so lines from the two processes never interleave)."""

    def __init__(self, path: Path):
        self.path, self._lock = path, threading.Lock()

    def __call__(self, event: HostEvent) -> None:
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, sort_keys=True) + "\n")


class OrchestratedTarget:
    """The target as the process faults see it: the orchestrator's process handle and restart, and two
    direct requests (bypassing the proxy) to tell whether it issues tokens and whether a token survived."""

    def __init__(self, process: Callable[[], Any], restart: Callable[[], Any], url: str, client: tuple[str, str],
                 verify: str | bool = True):  # fmt: skip
        self._process, self.restart, self.url, self._client = process, restart, url.rstrip("/"), client
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.verify = verify  # a target over TLS: the run's CA

    def main_pid(self) -> int | None:
        process = self._process()
        return process.pid if process is not None else None

    def alive(self) -> bool:
        process = self._process()
        return process is not None and bool(process.alive())

    def issue_token(self) -> str | None:
        try:
            r = self._session.post(f"{self.url}/token", data={"grant_type": "client_credentials"},
                                   auth=self._client, timeout=(1.0, 2.0))  # fmt: skip
            return str(r.json()["access_token"]) if r.status_code == 200 else None
        except (requests.RequestException, ValueError, KeyError):
            return None

    def token_active(self, token: str) -> bool | None:
        try:
            r = self._session.post(f"{self.url}/introspect", data={"token": token}, auth=self._client, timeout=5.0)
            return bool(r.json().get("active")) if r.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None


# what the leftovers registration keeps, not done yet: command reverts, plugin faults
PendingKind = Literal["commands", "plugin_faults"]
OnPending = Callable[[PendingKind, list[dict[str, Any]]], None]


class ChaosSession:
    def __init__(self, scenario: Scenario, run_id: str, run_dir: Path,
                 on_pending: OnPending = lambda kind, pending: None):  # fmt: skip
        self.scenario, self.run_id, self.run_dir = scenario, run_id, run_dir
        self.emit = EventLog(run_dir / "timeline.jsonl")
        self.types = scenario.fault_types("process", "network", "command", "plugin")
        self.namespace: Namespace | None = None
        self.kernel: dict[str, bool] = {}
        self.processes: ProcessFaults | None = None
        self.network: NetFaults | None = None
        self.commands: Commands | None = None
        self.plugins: PluginFaults | None = None
        self.control: ControlServer | None = None
        # command reverts not run yet, plugin faults not reverted yet: for the leftovers registry
        self._on_pending = on_pending

    @property
    def link(self) -> Link | None:
        return self.namespace.link if self.namespace is not None else None

    def prepare_network(self) -> Link | None:
        """With target.netns: make the namespace and veth, probe the kernel there, and refuse (InputError)
        fault types it cannot do. Root only; refused with a clear message otherwise."""
        target = self.scenario.target
        if not (isinstance(target, EmbeddedTarget) and target.netns):
            return None
        if os.geteuid() != 0:
            raise InputError("target.netns needs root (network namespaces and nftables); run as root or drop it")
        for tool in ("ip", "tc", "nft"):
            if shutil.which(tool) is None:
                raise InputError(f"target.netns needs `{tool}` (Debian: apt-get install -y nftables iproute2)")
        link = Link.for_run(self.run_id, host_addresses())
        leftovers.claim(link, self.run_id)  # before anything exists, so a crash is always found by name
        self.namespace = Namespace(link)
        self.namespace.create()
        self.kernel = probe(link)
        self.emit({"kind": "netns_ready", "ts": time.time(), "netns": link.netns, "veth": link.host_if,
                   "target_addr": link.ns_addr, "kernel": self.kernel})  # fmt: skip
        needs = {t: m.kernel_feature for t in self.types if issubclass(m := FAULT_TYPES[t], NetworkFault)}
        missing = sorted(t for t, feature in needs.items() if not self.kernel.get(feature))
        if missing:
            have = ", ".join(k for k, v in self.kernel.items() if v) or "nothing"
            raise InputError(
                f"this kernel cannot do {', '.join(missing)} (needs {', '.join(sorted({needs[t] for t in missing}))}; "
                f"probed: {have})"
            )
        self.network = NetFaults(link)
        return link

    def start_control(self, target: OrchestratedTarget | None, base_url: str | None = None) -> dict[str, str]:
        """Once the target is up (None: an external provider, no process of ours): the control channel;
        returns the environment for Locust (the token)."""
        if not self.types:
            return {}
        self.processes = ProcessFaults(target, self.emit) if target is not None else None
        if "command" in self.types:
            self.commands = Commands(self.run_dir / "logs", lambda pending: self._on_pending("commands", pending))
        if self.scenario.fault_types("plugin"):
            where = Where(self.run_dir, target.url if target is not None else base_url, base_url)
            self.plugins = PluginFaults(where, lambda pending: self._on_pending("plugin_faults", pending))
        faults = HostFaults(self.processes, self.network, self.emit, time.time, self.kernel, self.commands,
                            self.plugins)  # fmt: skip
        self.control = ControlServer(faults).start()
        return self.control.env()

    def secret(self) -> str | None:
        return self.control.token if self.control is not None else None

    def measurements(self) -> list[HostEvent]:
        """What the process faults measured (restart times, replaced workers), for the journal."""
        return list(self.processes.measurements) if self.processes is not None else []

    def target_down_intended(self) -> bool:
        return self.processes is not None and self.processes.target_down_intended()

    def roll_back_faults(self) -> list[tuple[str, bool, str]]:
        """After the load stopped (its timeline removed what it could): stop the channel, SIGCONT anything
        paused, wait for restarts under way, remove network faults still on, revert commands and plugin faults
        still applied."""
        steps: list[tuple[str, bool, str]] = []
        if self.control is not None:
            self.control.close()
        if self.processes is not None:
            said = self.processes.close()
            left_down = any("left down" in s for s in said)
            steps.append(("process faults", not left_down, "; ".join(said) or "nothing paused or down"))
        if self.network is not None:
            problems = self.network.close()
            steps.append(("network faults", not problems, "; ".join(problems) or "no nft table or qdisc left"))
        if self.commands is not None:
            steps += self.commands.close() or [("command faults", True, "no command left to revert")]
        if self.plugins is not None:
            steps += self.plugins.close() or [("plugin faults", True, "no plugin fault left to revert")]
        return steps

    def remove_namespace(self) -> list[tuple[str, bool, str]]:
        """After the target stopped: delete exactly the run's namespace and veth, check they are gone."""
        if self.namespace is None:
            return []
        left = self.namespace.delete()
        if not left:
            leftovers.release(self.namespace.link)
        detail = f"still present: {left}" if left else f"{self.namespace.link.netns} and its veth removed"
        return [("remove network namespace", not left, detail)]
