"""Plugin faults (the `plugin` channel), run by the orchestrator: a PluginFault's own `apply` and `revert`
(harness.faults.base), one change at a time, each bounded by the fault type's `timeout_s`, its log lines
in `logs/fault-<name>.log` (the secret scan reads logs/ like the rest).

The same guarantees as every other fault: before `apply` runs, the fault is registered as pending
(`on_pending`: the run's leftovers registration), so that `harness cleanup` reverts it, in another process,
from its attributes, if the orchestrator dies mid-phase; it is unregistered once reverted. An `apply` that
fails (raises, or overruns its time) is reverted at once and reported as the fault's error; whatever is
still applied when the run ends, however it ends, is reverted by `close()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.faults import FAULT_ADAPTER, FaultContext, PluginFault


@dataclass(frozen=True)
class Where:
    """Where the run's services are, for the faults' context."""

    run_dir: Path
    target_url: str | None = None
    base_url: str | None = None


def context(name: str, where: Where) -> FaultContext:
    log_path = where.run_dir / "logs" / f"fault-{name}.log"

    def log(line: str) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    return FaultContext(name, where.run_dir, log, where.target_url, where.base_url)


def bounded(call: Callable[[], Mapping[str, Any] | None], timeout_s: float, what: str) -> dict[str, Any]:
    """Run a plugin's call in a thread of its own and wait at most `timeout_s`. A call that overruns is
    reported as failed (Python cannot stop a thread; it is left to finish on its own)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # the plugin's code: every failure is reported, none escapes the thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"plugin-{what}", daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout_s)
    took = round(time.monotonic() - started, 3)
    if thread.is_alive():
        raise RuntimeError(f"{what} still running after its timeout of {timeout_s:g} s")
    if "error" in box:
        exc = box["error"]
        raise RuntimeError(f"{what} raised {type(exc).__name__}: {exc}") from exc
    result = box.get("result")
    return {"duration_s": took, **(dict(result) if isinstance(result, Mapping) else {})}


def pending_entry(name: str, fault: PluginFault, where: Where) -> dict[str, Any]:
    """What the leftovers registry keeps of an applied plugin fault: enough to revert it elsewhere."""
    return {"name": name, "fault": fault.model_dump(mode="json"), "run_dir": str(where.run_dir),
            "target_url": where.target_url, "base_url": where.base_url}  # fmt: skip


def revert_pending(entry: Mapping[str, Any]) -> str:
    """`harness cleanup`: revert a registered plugin fault (its plugin must still be installed)."""
    name = str(entry.get("name", "?"))
    try:
        fault = FAULT_ADAPTER.validate_python(entry["fault"])
        if not isinstance(fault, PluginFault):
            return f"could not revert plugin fault {name}: {fault.type} is not a plugin fault"
        where = Where(Path(entry["run_dir"]), entry.get("target_url"), entry.get("base_url"))
        bounded(lambda: fault.revert(context(name, where)), fault.timeout_s, f"revert {fault.type}")
        return f"reverted plugin fault {name} ({fault.type})"
    except Exception as exc:  # cleanup goes on with the rest, and says what it could not do
        return f"could not revert plugin fault {name}: {type(exc).__name__}: {exc}"


class PluginFaults:
    """The run's plugin faults: apply, remove at the phase end, and revert whatever is left at the end."""

    def __init__(self, where: Where, on_pending: Callable[[list[dict[str, Any]]], None] = lambda pending: None):
        self.where, self.on_pending = where, on_pending
        self._applied: dict[str, PluginFault] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _pend(self, name: str, fault: PluginFault | None) -> None:
        with self._lock:
            if fault is None:
                self._pending.pop(name, None)
            else:
                self._pending[name] = pending_entry(name, fault, self.where)
            self.on_pending(list(self._pending.values()))

    def apply(self, name: str, fault: PluginFault) -> dict[str, Any]:
        """Raises RuntimeError when `apply` failed (after reverting it)."""
        self._pend(name, fault)
        ctx = context(name, self.where)
        try:
            done = bounded(lambda: fault.apply(ctx), fault.timeout_s, f"apply {fault.type}")
        except RuntimeError as exc:
            undone = self._revert(name, fault)
            raise RuntimeError(f"{exc}; reverted at once: {undone}") from None
        self._applied[name] = fault
        return done

    def remove(self, name: str) -> dict[str, Any]:
        """Raises RuntimeError when `revert` failed (it stays registered for `harness cleanup`)."""
        fault = self._applied.pop(name)
        return bounded(lambda: self._revert_or_raise(name, fault), fault.timeout_s + 1.0, f"revert {fault.type}")

    def _revert_or_raise(self, name: str, fault: PluginFault) -> Mapping[str, Any] | None:
        result = fault.revert(context(name, self.where))
        self._pend(name, None)
        return result

    def _revert(self, name: str, fault: PluginFault) -> str:
        try:
            bounded(lambda: self._revert_or_raise(name, fault), fault.timeout_s, f"revert {fault.type}")
            return "ok"
        except RuntimeError as exc:
            return str(exc)

    def active(self) -> list[str]:
        return list(self._applied)

    def close(self) -> list[tuple[str, bool, str]]:
        """Revert every plugin fault still applied (the run ends before their phase did)."""
        steps = []
        for name in list(self._applied):
            fault = self._applied.pop(name)
            said = self._revert(name, fault)
            steps.append((f"revert plugin fault {name} ({fault.type})", said == "ok", said))
        return steps
