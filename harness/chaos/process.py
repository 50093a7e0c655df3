"""Process faults on the embedded target: kill (TERM/KILL, one worker or all), pause (SIGSTOP, then
SIGCONT) and restart (stop, wait, start again on the same store and port).

Runs in the orchestrator, which owns the target (`TargetControl`). Slow parts (a restart, a timed
SIGCONT, waiting for uvicorn to replace a killed worker) run in threads so the timeline's call returns at
once; what they measure goes to the timeline log through `emit`. While the target is down on purpose,
`target_down_intended()` is true, so the orchestrator does not report an intended kill as a crash.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.chaos import procs
from harness.contract import HostEvent as Event
from harness.faults.base import ProcessFault
from harness.faults.process_kill import ProcessKillFault
from harness.faults.process_pause import ProcessPauseFault
from harness.faults.process_restart import ProcessRestartFault

EXIT_WAIT_S = 10.0
RECOVERY_WAIT_S = 30.0


class TargetControl(Protocol):
    def main_pid(self) -> int | None: ...
    def alive(self) -> bool: ...
    def restart(self) -> Any: ...  # start again with the same store and port; returns once ready
    def issue_token(self) -> str | None: ...  # a client_credentials access token, or None
    def token_active(self, token: str) -> bool | None: ...  # RFC 7662 introspection of that token


@dataclass
class ProcessFaults:
    target: TargetControl
    emit: Callable[[Event], None]
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Any] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _down: set[str] = field(default_factory=set)  # faults that took the whole target down on purpose
    _paused: dict[str, list[int]] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)  # fault -> token issued before it (never logged)
    measurements: list[Event] = field(default_factory=list)

    def target_down_intended(self) -> bool:
        with self._lock:
            return bool(self._down)

    # --- apply / remove ----------------------------------------------------------------------------

    def apply(self, name: str, fault: ProcessFault) -> Event:
        main = self.target.main_pid()
        if main is None or not self.target.alive():
            raise RuntimeError("the target is not running")
        if isinstance(fault, ProcessPauseFault):
            return self._pause(name, fault, main)
        assert isinstance(fault, ProcessKillFault | ProcessRestartFault), f"not a process fault: {fault.type}"
        sig = signal.Signals[f"SIG{fault.signal}"]
        if isinstance(fault, ProcessKillFault) and fault.target == "one" and procs.worker_pids(main):
            return self._kill_worker(name, sig, main)
        self._note_token(name)
        with self._lock:
            self._down.add(name)
        killed_at = self._stop_group(main, sig)
        if isinstance(fault, ProcessRestartFault):
            down_s = fault.down_s
            self._background(name, lambda: self._restart(name, killed_at, down_s))
        return {"action": "kill", "signal": sig.name, "pid": main, "group": True, "down_at": killed_at}

    def remove(self, name: str) -> Event:
        with self._lock:
            paused = self._paused.pop(name, None)
            down = name in self._down
        if paused is not None:
            procs.send(paused, signal.SIGCONT)
            return {"action": "resume", "pids": paused}
        if down and not self._restart_running(name):
            self._background(name, lambda: self._restart(name, self.clock(), 0.0))
            return {"action": "restart"}
        return {"action": "none"}

    def close(self, timeout_s: float = RECOVERY_WAIT_S) -> list[str]:
        """Every exit path: SIGCONT whatever is paused, wait for restarts under way; say what is left."""
        said = []
        with self._lock:
            paused, self._paused = self._paused, {}
        for name, pids in paused.items():
            procs.send(pids, signal.SIGCONT)
            said.append(f"{name}: SIGCONT sent to {pids}")
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            down = sorted(self._down)
        if down:
            said.append(f"target left down by {', '.join(down)} (not restarted: the run is ending)")
        return said

    # --- the parts ---------------------------------------------------------------------------------

    def _pause(self, name: str, fault: ProcessPauseFault, main: int) -> Event:
        workers = procs.worker_pids(main)
        pids = [workers[0]] if fault.target == "one" and workers else [main, *workers]
        with self._lock:
            self._paused[name] = pids
        procs.send(pids, signal.SIGSTOP)
        duration_s = fault.duration_s
        if duration_s is not None:
            self._background(name, lambda: self._resume_after(name, duration_s))
        return {"action": "pause", "pids": pids}

    def _resume_after(self, name: str, duration_s: float) -> None:
        self.sleep(duration_s)
        with self._lock:
            pids = self._paused.pop(name, None)
        if pids is not None:
            procs.send(pids, signal.SIGCONT)
            self._record({"kind": "process_resumed", "fault_toxic": name, "pids": pids, "ts": self.clock()})

    def _kill_worker(self, name: str, sig: signal.Signals, main: int) -> Event:
        before = procs.worker_pids(main)
        victim = before[0]
        procs.send([victim], sig)
        killed_at = self.clock()
        self._background(name, lambda: self._await_replacement(name, main, victim, len(before), killed_at))
        return {"action": "kill", "signal": sig.name, "pid": victim, "group": False, "workers": len(before)}

    def _await_replacement(self, name: str, main: int, victim: int, count: int, killed_at: float) -> None:
        """uvicorn's supervisor notices a dead worker within about half a second and starts another."""
        deadline = time.monotonic() + RECOVERY_WAIT_S
        while time.monotonic() < deadline:
            now = procs.worker_pids(main)
            if victim not in now and len(now) >= count:
                self._record({"kind": "worker_replaced", "fault_toxic": name, "killed_pid": victim,
                              "replaced_after_s": self.clock() - killed_at, "ts": self.clock()})  # fmt: skip
                return
            self.sleep(0.05)
        self._record({"kind": "worker_not_replaced", "fault_toxic": name, "killed_pid": victim, "ts": self.clock()})

    def _stop_group(self, main: int, sig: signal.Signals) -> float:
        """Signal the target's whole process group (its own session: the main process and its workers, so a
        KILLed supervisor leaves no orphan worker holding the port); wait for the main process to go."""
        group = [main, *procs.worker_pids(main)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(main, sig)
        procs.send(group, signal.SIGCONT)  # a paused process would hold a TERM pending forever
        deadline = time.monotonic() + EXIT_WAIT_S
        while self.target.alive() and time.monotonic() < deadline:
            self.sleep(0.02)
        if self.target.alive():  # TERM not honoured in time: KILL the group
            os.killpg(main, signal.SIGKILL)
        return self.clock()

    def _restart(self, name: str, down_at: float, down_s: float) -> None:
        self.sleep(down_s)
        started_at = self.clock()
        event: Event = {"kind": "target_restarted", "fault_toxic": name, "down_at": down_at, "started_at": started_at}
        try:
            self.target.restart()
        except Exception as exc:
            event.update(kind="target_restart_failed", error=f"{type(exc).__name__}: {exc}", ts=self.clock())
            self._record(event)  # stays in _down: the orchestrator reports the death at the end
            return
        first = self._first_token_at(started_at)
        token = self._tokens.pop(name, None)
        event.update(
            ready_at=self.clock(),
            first_token_at=first,
            time_to_first_token_s=None if first is None else first - started_at,
            outage_s=None if first is None else first - down_at,
            token_survived=None if token is None else self.target.token_active(token),
            ts=self.clock(),
        )
        with self._lock:
            self._down.discard(name)
        self._record(event)

    def _first_token_at(self, since: float) -> float | None:
        deadline = time.monotonic() + RECOVERY_WAIT_S
        while time.monotonic() < deadline:
            if self.target.issue_token() is not None:
                return self.clock()
            self.sleep(0.02)
        return None

    def _note_token(self, name: str) -> None:
        token = self.target.issue_token()
        if token is not None:
            self._tokens[name] = token

    def _restart_running(self, name: str) -> bool:
        return any(t.name == f"restart-{name}" and t.is_alive() for t in self._threads)

    def _background(self, name: str, fn: Callable[[], None]) -> None:
        thread = threading.Thread(target=fn, name=f"restart-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _record(self, event: Event) -> None:
        self.measurements.append(event)
        self.emit(event)
