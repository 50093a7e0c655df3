"""The second safety net: every running run registers what it started in `<out>/.active/<run_id>.json`;
a later `harness run` (or `harness cleanup`) finds registrations whose orchestrator is gone, stops the
processes they name, removes the proxies they made on a shared Toxiproxy, runs the `revert` of every
command fault still applied, and marks their journal.

Processes are matched by PID *and* start time (from /proc), so a recycled PID is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.chaos.command import revert_pending
from harness.chaos.leftovers import sweep
from harness.chaos.procs import process_start_ticks, same_process
from harness.proxy.client import NotFoundError, ToxiproxyClient

ACTIVE_DIR = ".active"
SCRATCH_PREFIX = "harness-target-"  # only a directory of this name is ever removed


@dataclass
class Registration:
    run_id: str
    run_dir: str
    pid: int = field(default_factory=os.getpid)
    start_ticks: int | None = None
    children: list[dict[str, Any]] = field(default_factory=list)
    # {"api": ..., "name": ..., "names": [...]} on a Toxiproxy we do not own ("names": one per origin)
    shared_proxy: dict[str, Any] | None = None
    commands: list[dict[str, Any]] = field(default_factory=list)  # command reverts not run yet (chaos.command)
    scratch: str | None = None  # the run's scratch directory (the target's store, the run's CA, private keys)

    def __post_init__(self) -> None:
        if self.start_ticks is None:
            self.start_ticks = process_start_ticks(self.pid)


class ActiveRuns:
    def __init__(self, out: Path):
        self.directory = out / ACTIVE_DIR
        self._lock = threading.Lock()  # the chaos control thread saves pending commands too

    def path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.json"

    def save(self, reg: Registration) -> None:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.path(reg.run_id).with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(reg), indent=2))
            os.replace(tmp, self.path(reg.run_id))

    def remove(self, run_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(run_id).unlink()
        with contextlib.suppress(OSError):
            self.directory.rmdir()  # only when no other run is registered

    def registrations(self) -> list[Registration]:
        out = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                out.append(Registration(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                continue
        return out

    def clean(self) -> list[str]:
        """Clean up after every registered run whose orchestrator is gone; say what was done."""
        said: list[str] = []
        for reg in self.registrations():
            if same_process(reg.pid, reg.start_ticks):
                continue  # still running (another harness run in progress): not ours to touch
            said.append(f"found leftovers of run {reg.run_id} (its orchestrator, pid {reg.pid}, is gone)")
            for child in reg.children:
                said.append(_stop_child(child))
            if reg.shared_proxy:
                said.append(_remove_shared_proxy(reg.shared_proxy))
            for entry in reg.commands:  # after the load is gone, so no timeline applies it again
                done = revert_pending(entry)
                said.append(f"  {'reverted' if done.ok else 'could not revert'} command fault {entry['name']}: "
                            f"{done.describe()}")  # fmt: skip
            if reg.scratch and Path(reg.scratch).name.startswith(SCRATCH_PREFIX):
                shutil.rmtree(reg.scratch, ignore_errors=True)
                said.append(f"  removed its scratch directory {reg.scratch}")
            _mark_journal_crashed(Path(reg.run_dir), said)
            self.remove(reg.run_id)
        return said + sweep()  # network namespaces of crashed runs, found by name


def _stop_child(child: dict[str, Any]) -> str:
    pid, name = int(child["pid"]), child.get("name", "?")
    if not same_process(pid, child.get("start_ticks")):
        return f"  {name} (pid {pid}) already gone"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and same_process(pid, child.get("start_ticks")):
        time.sleep(0.05)
    if same_process(pid, child.get("start_ticks")):
        os.kill(pid, signal.SIGKILL)
        return f"  {name} (pid {pid}) killed"
    return f"  {name} (pid {pid}) stopped"


def _remove_shared_proxy(shared: dict[str, Any]) -> str:
    client = ToxiproxyClient(shared["api"], timeout_s=5.0)
    said = []
    try:
        for name in shared.get("names") or [shared["name"]]:
            try:
                client.delete_proxy(name)  # its toxics go with it
                said.append(f"  removed proxy {name} and its toxics from {shared['api']}")
            except NotFoundError:
                said.append(f"  proxy {name} no longer on {shared['api']}")
            except Exception as exc:
                said.append(f"  could not remove proxy {name} from {shared['api']}: {exc}")
    finally:
        client.close()
    return "\n".join(said)


def _mark_journal_crashed(run_dir: Path, said: list[str]) -> None:
    path = run_dir / "journal.json"
    try:
        journal = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if journal.get("status") == "running":
        journal["status"] = "crashed"
        journal.setdefault("events", []).append(
            {"ts": time.time(), "kind": "crash_detected", "detail": "cleaned up by a later run: " + "; ".join(said)}
        )
        tmp = path.with_name(".journal.json.tmp")
        tmp.write_text(json.dumps(journal, indent=2, sort_keys=True))
        os.replace(tmp, path)

