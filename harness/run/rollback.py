"""The rollback that runs on every exit path of a run (normal end, SLO failure, exception, Ctrl-C,
SIGTERM): stop the load first (its timeline removes its own faults), then undo what the orchestrator
applied itself (process and network faults), switch the target's chaos off, and reset the proxy and check
that it holds no toxic. Each step is written to the journal with whether it held.

Given what a run started (or fakes of it), it needs no process of its own: tests drive it directly.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.contract import HostEvent

LOAD_STOP_S = 15.0  # how long the load gets to wind down (and remove its faults)
PROXY_COUNTERS = "proxy-metrics.txt"


class Process(Protocol):
    """What the rollback needs of a process the run started (harness.run.services.ManagedProcess)."""

    def alive(self) -> bool: ...
    def signal(self, sig: int) -> None: ...
    def wait(self, timeout_s: float) -> int | None: ...
    def stop(self, timeout_s: float = ...) -> int | None: ...
    def returncode(self) -> int | None: ...


class ProxyApi(Protocol):
    """The Toxiproxy API calls the rollback makes (harness.proxy.client.ToxiproxyClient)."""

    def reset(self) -> None: ...
    def get_proxies(self) -> dict[str, dict[str, Any]]: ...
    def remove_toxic(self, proxy: str, name: str) -> None: ...
    def delete_proxy(self, name: str) -> None: ...
    def metrics(self) -> str: ...


class HostFaults(Protocol):
    """Process and network faults the orchestrator applied (harness.chaos.session.ChaosSession)."""

    def roll_back_faults(self) -> list[tuple[str, bool, str]]: ...
    def measurements(self) -> list[HostEvent]: ...


class TargetChaos(Protocol):
    def reset(self) -> dict[str, Any]: ...


class JournalSteps(Protocol):
    def rollback_step(self, action: str, ok: bool, detail: str = "") -> None: ...
    def event(self, kind: str, detail: str = "", **extra: Any) -> None: ...


@dataclass
class ProxyInUse:
    """The proxies a run put its toxics on. `ours`: a proxy process the run started, so everything on it is
    the run's and a reset is safe; otherwise a shared Toxiproxy, where only the proxies named `names` (unique
    to the run) are ours, those that got as far as being created."""

    api: ProxyApi
    name: str
    ours: bool
    process: Process | None = None  # our proxy's process, to tell a dead proxy from a failed reset
    more: tuple[str, ...] = ()  # the run's other proxies on the same API (one per origin of a provider)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.more)


@dataclass
class Rollback:
    journal: JournalSteps
    run_dir: Path
    load: Process | None = None
    host: HostFaults | None = None
    target_chaos: TargetChaos | None = None
    proxy: ProxyInUse | None = None
    stop_s: float = LOAD_STOP_S
    clock: Callable[[], float] = time.monotonic
    forced: bool = False

    def force(self) -> None:
        """Stop waiting for the load to wind down (a second Ctrl-C); every other step still runs."""
        self.forced = True

    def run(self) -> None:
        self._stop_load()
        self._host_faults()
        self._target_chaos()
        self._proxy()

    def _stop_load(self) -> None:
        load = self.load
        if load is None or not load.alive():
            return
        # SIGINT, not SIGTERM: Locust 2.47 turns Ctrl-C into its graceful shutdown (quitting handlers remove
        # active faults and flush records), while its SIGTERM handler never gets installed in headless shape
        # runs (the process dies with the default action)
        load.signal(signal.SIGINT)
        deadline = self.clock() + self.stop_s
        while load.alive() and self.clock() < deadline and not self.forced:
            load.wait(0.1)
        if load.alive():
            load.stop(timeout_s=0.5)
        self.journal.rollback_step("stop load", True, f"locust exit code {load.returncode()}")

    def _host_faults(self) -> None:
        if self.host is None:
            return
        for action, ok, detail in self.host.roll_back_faults():
            self.journal.rollback_step(action, ok, detail)
        for measured in self.host.measurements():
            extra = {k: v for k, v in measured.items() if k not in ("kind", "ts")}
            self.journal.event(measured["kind"], str(measured.get("fault_toxic", "")), **extra)

    def _target_chaos(self) -> None:
        """After the load stopped: every target-side fault off, whatever the timeline managed to remove."""
        if self.target_chaos is None:
            return
        try:
            state = self.target_chaos.reset()
            self.journal.rollback_step("reset target chaos", True, f"target chaos state {state}")
        except Exception as exc:
            self.journal.rollback_step("reset target chaos", False, f"{type(exc).__name__}: {exc}")

    def _proxy(self) -> None:
        proxy = self.proxy
        if proxy is None:
            return
        self._save_counters(proxy.api)
        try:
            if proxy.ours:
                proxy.api.reset()  # our own proxy process: nothing on it is anyone else's
                left = proxy.api.get_proxies()
            else:
                left = self._remove_own(proxy)
            leftover = {name: [t["name"] for t in p.get("toxics", [])] for name, p in left.items() if p.get("toxics")}
            if leftover:
                self.journal.rollback_step("remove faults", False, f"toxics still present: {leftover}")
            else:
                self.journal.rollback_step("remove faults", True, "no toxic remains on the proxy")
        except Exception as exc:
            gone = proxy.process is not None and not proxy.process.alive()
            detail = "proxy process is gone, so are its faults" if gone else f"{type(exc).__name__}: {exc}"
            self.journal.rollback_step("remove faults", gone, detail)

    def _save_counters(self, api: ProxyApi) -> None:
        """The proxy's own count of faults injected, so the report can set it beside the configured rate."""
        try:
            (self.run_dir / PROXY_COUNTERS).write_text(api.metrics(), encoding="utf-8")
        except Exception as exc:  # a dead proxy has no counters; the report says "not measured"
            self.journal.event("proxy_counters_unavailable", f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _remove_own(proxy: ProxyInUse) -> dict[str, dict[str, Any]]:
        """On a shared proxy: delete our toxics and our proxies, nothing else; return what is left of ours."""
        present = proxy.api.get_proxies()
        for name in proxy.names:
            ours = present.get(name)
            if ours is not None:
                for toxic in ours.get("toxics", []):
                    proxy.api.remove_toxic(name, toxic["name"])
                proxy.api.delete_proxy(name)
        return {k: v for k, v in proxy.api.get_proxies().items() if k in proxy.names}
