"""`command` faults, run by the orchestrator: the user's own argv lists (no shell), each with a timeout, its
output in `logs/command-<fault>-<apply|revert>.log` (the secret scan reads logs/ like the rest).

Before `apply` runs, its `revert` is registered (`on_pending`: the run's leftovers registration), so that
`harness cleanup` runs it if the orchestrator dies mid-phase; it is unregistered once it has run. An
`apply` that fails (non-zero exit, timeout, not found) is reverted at once and reported as an error.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.faults.command import CommandFault
from harness.lifeline import end_process_group

KILL_GRACE_S = 5.0


@dataclass(frozen=True)
class CommandRun:
    argv: tuple[str, ...]
    exit_code: int | None  # None: it did not finish in time (then killed) or could not start
    duration_s: float
    log: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        what = self.error or f"exit code {self.exit_code}"
        return f"{self.argv[0]}: {what} after {self.duration_s:.2f} s (output in {self.log})"


def run_argv(argv: Sequence[str], timeout_s: float, log_path: Path) -> CommandRun:
    """Run `argv` (no shell) with its output appended to `log_path`; on timeout its process group, which
    it leads (its own session), gets SIGTERM, then SIGKILL: only what this call started."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # fmt: skip
        except OSError as exc:
            return CommandRun(tuple(argv), None, time.monotonic() - started, str(log_path), f"could not start: {exc}")
        try:
            code: int | None = process.wait(timeout=timeout_s)
            error = ""
        except subprocess.TimeoutExpired:
            end_process_group(process, KILL_GRACE_S)
            code, error = None, f"still running after its timeout of {timeout_s:g} s; killed"
        log.write(f"[exit {code if code is not None else 'killed'}]\n".encode())
    return CommandRun(tuple(argv), code, time.monotonic() - started, str(log_path), error)


def pending_entry(name: str, fault: CommandFault, logs: Path) -> dict[str, Any]:
    """What the leftovers registry keeps of an applied command: enough to revert it from another process."""
    return {"name": name, "revert": list(fault.revert), "timeout_s": fault.timeout_s,
            "log": str(logs / f"command-{name}-revert.log")}  # fmt: skip


def revert_pending(entry: dict[str, Any]) -> CommandRun:
    """`harness cleanup`: run a registered revert."""
    return run_argv(entry["revert"], float(entry["timeout_s"]), Path(entry["log"]))


class Commands:
    """The run's command faults: apply, remove at the phase end, and revert whatever is left at the end."""

    def __init__(self, logs: Path, on_pending: Callable[[list[dict[str, Any]]], None] = lambda pending: None):
        self.logs, self.on_pending = logs, on_pending
        self._applied: dict[str, CommandFault] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _pend(self, name: str, fault: CommandFault | None) -> None:
        with self._lock:
            if fault is None:
                self._pending.pop(name, None)
            else:
                self._pending[name] = pending_entry(name, fault, self.logs)
            self.on_pending(list(self._pending.values()))

    def apply(self, name: str, fault: CommandFault) -> dict[str, Any]:
        """Raises RuntimeError when `apply` failed (after reverting it)."""
        self._pend(name, fault)
        done = run_argv(fault.apply, fault.timeout_s, self.logs / f"command-{name}-apply.log")
        if not done.ok:
            undone = self._revert(name, fault)
            raise RuntimeError(f"apply failed: {done.describe()}; reverted at once: {undone.describe()}")
        self._applied[name] = fault
        return {"exit_code": done.exit_code, "duration_s": round(done.duration_s, 3), "log": done.log}

    def remove(self, name: str) -> dict[str, Any]:
        """Raises RuntimeError when `revert` failed."""
        done = self._revert(name, self._applied.pop(name))
        if not done.ok:
            raise RuntimeError(f"revert failed: {done.describe()}")
        return {"exit_code": done.exit_code, "duration_s": round(done.duration_s, 3), "log": done.log}

    def _revert(self, name: str, fault: CommandFault) -> CommandRun:
        done = run_argv(fault.revert, fault.timeout_s, self.logs / f"command-{name}-revert.log")
        self._pend(name, None)
        return done

    def active(self) -> list[str]:
        return list(self._applied)

    def close(self) -> list[tuple[str, bool, str]]:
        """Revert every command still applied (the run ends before their phase did)."""
        steps = []
        for name in list(self._applied):
            done = self._revert(name, self._applied.pop(name))
            steps.append((f"revert command {name}", done.ok, done.describe()))
        return steps
