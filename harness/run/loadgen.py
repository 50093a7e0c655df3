"""Locust as the run's load generator: the command lines for a local process, a master and its workers,
and the web UI; starting them and waiting for the load to end.

Plain Python like the rest of `harness/run/`: Locust runs in its own processes. A run with `--workers N`
is one master (named `locust`, so the orchestrator's rollback stops it first and its timeline removes the
faults) and N workers (`locust-worker-K`), all on a master port of their own, so no stale worker of an
earlier run can join. With `--expect-workers` the master also waits for workers started elsewhere by
`harness worker --master` (harness/run/worker.py). Each local worker writes its own record shards into
the run's `records/` under its node name; a remote one's come home at stop; a worker that dies is
reported by the master (`worker_lost` in the timeline) and the run goes on.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.contract import Env
from harness.errors import InfrastructureError, InputError
from harness.run.journal import Journal, read_jsonl
from harness.run.remote import master_port
from harness.run.services import ManagedProcess
from harness.scenario import Scenario

LOCUSTFILE = Path(__file__).resolve().parent.parent / "load" / "locustfile.py"
EXPECT_WORKERS_WAIT_S = 60.0  # --workers-timeout: how long the master waits for its workers
QUIT_UI_S = 15.0  # how long Locust gets to quit gracefully when the web UI session ends
STATS_FILE = "locust-stats"  # logs/locust-stats.json: Locust's own final request counts

Spawn = Callable[[str, list[str], Mapping[str, str] | None], ManagedProcess]


@dataclass(frozen=True)
class LoadMode:
    workers: int = 0  # 0: one local process
    ui: bool = False
    web_host: str = "127.0.0.1"
    web_port: int = 8089
    master_host: str = "127.0.0.1"  # where the master binds (--master-bind); loopback unless told
    master_port: int = 0  # 0: a free port
    expect_workers: int = 0  # workers in all, local ones included, before the first phase; 0: the local ones
    workers_timeout_s: float = EXPECT_WORKERS_WAIT_S

    def __post_init__(self) -> None:
        if self.workers < 0 or self.workers > 256:
            raise InputError(f"--workers must be between 0 and 256 (got {self.workers})")
        if self.expect_workers < 0 or self.expect_workers > 1024:
            raise InputError(f"--expect-workers must be between 0 and 1024 (got {self.expect_workers})")
        if not self.workers_timeout_s > 0:
            raise InputError(f"--workers-timeout must be above 0 (got {self.workers_timeout_s:g})")

    @property
    def expected(self) -> int:
        """Workers in all the master waits for (0: no master, one local process)."""
        return max(self.workers, self.expect_workers)

    @property
    def master_address(self) -> str:
        host = f"[{self.master_host}]" if ":" in self.master_host else self.master_host
        return f"{host}:{self.master_port}"


def base_argv(runtime_path: Path) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--harness-runtime", str(runtime_path)]


def local_argv(runtime_path: Path, logs: Path) -> list[str]:
    return [*base_argv(runtime_path), "--headless", *_headless_tail(logs)]


def master_argv(runtime_path: Path, logs: Path, mode: LoadMode) -> list[str]:
    """The master: it binds where `mode` says and (headless) waits for `mode.expected` workers in all, the
    harness's gate refusing other versions and saying who is missing (harness.load.distributed)."""
    argv = [*base_argv(runtime_path), "--master", "--master-bind-host", mode.master_host,
            "--master-bind-port", str(mode.master_port)]  # fmt: skip
    if mode.ui:
        return [*argv, *_ui_tail(mode)]
    expect = ["--expect-workers", str(mode.expected), "--expect-workers-max-wait", f"{mode.workers_timeout_s:g}"]
    return [*argv, "--headless", *expect, *_headless_tail(logs)]


def worker_argv(runtime_path: Path, master_host: str, port: int) -> list[str]:
    return [*base_argv(runtime_path), "--worker", "--master-host", master_host, "--master-port", str(port),
            "--loglevel", "WARNING"]  # fmt: skip


def ui_argv(runtime_path: Path, mode: LoadMode) -> list[str]:
    return [*base_argv(runtime_path), *_ui_tail(mode)]


def plan_text(scenario: Scenario) -> str:
    """One line for the web UI's start form: what the shape will do, phase by phase, and the faults."""
    parts = []
    for phase in scenario.phases:
        users = phase.users if phase.users is not None else scenario.load.users
        faults = "; ".join(" ".join(filter(None, (f.type, getattr(f, "endpoint", None)))) for f in phase.faults)
        parts.append(f"{phase.name} {phase.duration_s:g}s {users}u" + (f" [{faults}]" if faults else ""))
    return f"{scenario.name}: " + " | ".join(parts)


def _headless_tail(logs: Path) -> list[str]:
    return ["--exit-code-on-error", "0", "--only-summary", "--loglevel", "WARNING",
            "--json-file", str(logs / STATS_FILE)]  # fmt: skip


def _ui_tail(mode: LoadMode) -> list[str]:
    # the start form's scenarios and its default come from the runtime (Env.RUNTIME), not from argv
    return ["--web-host", mode.web_host, "--web-port", str(mode.web_port), "--loglevel", "INFO"]


@dataclass
class Load:
    """The Locust processes of a run: the master (or the one local process) and its local workers."""

    master: ManagedProcess
    workers: list[ManagedProcess]
    mode: LoadMode

    def quit_ui(self, journal: Journal, timeout_s: float = QUIT_UI_S) -> None:
        """End a web-UI session: SIGINT, Locust's graceful quit (its timeline removes active faults, records
        are flushed). Its exit code says whether requests failed, which in a chaos test is no fault of ours."""
        self.master.signal(signal.SIGINT)
        self.master.wait(timeout_s)
        code = self.master.returncode() if not self.master.alive() else self.master.stop(timeout_s=2.0)
        journal.event("load_finished", f"locust exit code {code} (web UI closed)")

    def check_exit(self, journal: Journal) -> None:
        code = self.master.returncode()
        if code != 0:
            raise InfrastructureError(f"locust exited with code {code}; last lines:\n{self.master.tail()}")
        journal.event("load_finished", f"locust exit code {code}")

    def stop_workers(self, journal: Journal) -> None:
        """Workers go after the master (which asks them to flush first); one still up gets SIGINT, whose
        quitting handler flushes its records too."""
        if not self.workers:
            return
        if self.master.alive():
            self.master.signal(signal.SIGINT)  # Locust's graceful path (see harness.run.rollback)
            self.master.wait(15.0)
        deadline = time.monotonic() + 10.0
        for worker in self.workers:
            while worker.alive() and time.monotonic() < deadline:
                worker.wait(0.2)
            code = worker.stop()
            journal.rollback_step(f"stop {worker.name}", True, f"pid {worker.pid} exit code {code}")


def start(spawn: Spawn, journal: Journal, run_dir: Path, env: Mapping[str, str], mode: LoadMode) -> Load:
    """Start Locust as `mode` says: local, master + N local workers, with or without the web UI. `env`:
    what every load process gets (the client secret, the seeded users, the fault channels)."""
    runtime_path = run_dir / "runtime.json"
    logs = run_dir / "logs"
    env = {**env, Env.RUNTIME: str(runtime_path)}  # Env.RUNTIME: the form's choices at parse time
    if mode.expected and not mode.master_port:
        mode = replace(mode, master_port=master_port(mode.master_host))
    port = mode.master_port
    if mode.expected:
        argv = master_argv(runtime_path, logs, mode)
    else:
        argv = ui_argv(runtime_path, mode) if mode.ui else local_argv(runtime_path, logs)
    load = Load(spawn("locust", argv, env), [], mode)
    journal.services["locust"] = {"pid": load.master.pid, "role": "master" if mode.expected else "local"}
    if mode.expected:
        journal.services["locust"] |= {"bind": mode.master_address, "expect_workers": mode.expected}
    connect = "127.0.0.1" if mode.master_host in ("0.0.0.0", "::") else mode.master_host
    for k in range(1, mode.workers + 1):
        name = f"locust-worker-{k}"
        worker = spawn(name, worker_argv(runtime_path, connect, port), {**env, Env.NODE: f"w{k}"})
        load.workers.append(worker)
        journal.services[name] = {"pid": worker.pid, "node": f"w{k}", "master_port": port}
    detail = f"locust pid {load.master.pid}"
    if mode.expected:
        detail += f", master on {mode.master_address} waiting for {mode.expected} workers ({mode.workers} local)"
    journal.event("load_started", detail)
    if mode.ui:
        print(f"harness: web UI at http://{mode.web_host}:{mode.web_port} (Ctrl-C here ends the run)", flush=True)
    return load


def lost_workers(run_dir: Path) -> list[dict[str, Any]]:
    return [ev for ev in read_jsonl(run_dir / "timeline.jsonl") if ev.get("kind") == "worker_lost"]
