"""The second safety net (the first: children die with the orchestrator, harness.lifeline): every running
run registers what it started in one registry per user (`user_registry()`), whatever its output
directory; a later `harness run` anywhere (or `harness cleanup`) finds registrations whose orchestrator
is gone, stops the processes they name, removes the proxies they made on a shared Toxiproxy, runs the
`revert` of every command fault still applied, reverts every plugin fault still applied, deletes the
target's scratch directory (its signing keys, the run's CA), and marks their journal.

Processes are matched by PID *and* start time (from /proc), so a recycled PID is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.chaos.command import revert_pending
from harness.chaos.leftovers import sweep
from harness.chaos.plugin import revert_pending as revert_plugin_fault
from harness.chaos.procs import process_start_ticks, same_process
from harness.proxy.client import NotFoundError, ToxiproxyClient

ACTIVE_DIR = ".active"  # <out>/.active: where runs registered before the registry was per user
SCRATCH_PREFIX = "harness-target-"  # only a directory of this name, in the temp directory, is ever removed


def user_registry(environ: Mapping[str, str] = os.environ) -> Path:
    """One directory per user: `$XDG_RUNTIME_DIR/harness/active` (a tmpfs emptied at logout and boot, as
    PIDs are), else `$XDG_STATE_HOME/harness/active` (default `~/.local/state`)."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return Path(runtime) / "harness" / "active"
    state = environ.get("XDG_STATE_HOME")
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "harness" / "active"


@dataclass
class Registration:
    run_id: str
    run_dir: str
    pid: int = field(default_factory=os.getpid)
    start_ticks: int | None = None
    children: list[dict[str, Any]] = field(default_factory=list)
    # {"api": ..., "name": ..., "names": [...]} on a Toxiproxy we do not own ("names": one per origin)
    shared_proxy: dict[str, Any] | None = None
    scratch: str | None = None  # the target's store and signing keys, the run's CA (harness-target-* in tmp)
    commands: list[dict[str, Any]] = field(default_factory=list)  # command reverts not run yet (chaos.command)
    plugin_faults: list[dict[str, Any]] = field(default_factory=list)  # not reverted yet (chaos.plugin)

    def __post_init__(self) -> None:
        if self.start_ticks is None:
            self.start_ticks = process_start_ticks(self.pid)


class ActiveRuns:
    """A registry of running runs: the user's (`user_registry()`) unless given a directory."""

    def __init__(self, directory: Path | None = None):
        self.directory = user_registry() if directory is None else directory
        self._lock = threading.Lock()

    @classmethod
    def legacy(cls, out: Path) -> ActiveRuns:
        """Where runs registered before the registry was per user: `<out>/.active`."""
        return cls(out / ACTIVE_DIR)

    def path(self, reg: Registration) -> Path:
        # a run id is unique in its output directory only (a scenario's name and a UTC second): with the
        # orchestrator's PID, two runs started in the same second from two directories keep two files
        return self.directory / f"{reg.run_id}.{reg.pid}.json"

    def save(self, reg: Registration) -> None:
        with self._lock:  # the chaos control thread saves pending commands and plugin faults too
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.path(reg)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(asdict(reg), indent=2))
            os.replace(tmp, path)

    def remove(self, reg: Registration) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(reg).unlink()

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
            for entry in reg.plugin_faults:  # after the load is gone, so no timeline applies it again
                said.append(f"  {revert_plugin_fault(entry)}")
            if reg.scratch:
                said.append(_remove_scratch(reg.scratch))
            _mark_journal_crashed(Path(reg.run_dir), said)
            self.remove(reg)
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


def _remove_scratch(scratch: str) -> str:
    path = Path(scratch)
    # only ever a directory the harness made in the temp directory (a registry file is not to be trusted
    # with an arbitrary path to delete)
    if path.parent != Path(tempfile.gettempdir()) or not path.name.startswith(SCRATCH_PREFIX):
        return f"  left {scratch} alone (not a target scratch directory)"
    shutil.rmtree(path, ignore_errors=True)
    return f"  removed the target's scratch directory {scratch}"


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

