"""`harness worker --master HOST:PORT`: one Locust worker on this machine for a `harness run` master on
another. It needs nothing else: the master sends the scenario, the endpoints, the seed and the phase
(harness.load.remote); the secrets come from this machine's environment, under the same names as on the
master (e.g. HARNESS_CLIENT_SECRET). Records are written here, under OUT/<run id>-<node>/records/, and
sent home to the master as the run goes and at stop; the worker exits when the master releases it and
quits, when the master has been gone for --master-timeout seconds, or on Ctrl-C / SIGTERM (after
sending what it still holds).

Locust runs as a child in its own session: a terminal Ctrl-C (or a container's SIGTERM) reaches this
process, which passes it on once as SIGINT, Locust's graceful quit, and waits; a third one kills it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

from harness.contract import NODE_NAME, Env
from harness.errors import InputError
from harness.run.loadgen import LOCUSTFILE
from harness.run.remote import DEFAULT_MASTER_PORT, parse_hostport

DEFAULT_MASTER_TIMEOUT_S = 20.0


def worker_argv(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", host,
            "--master-port", str(port), "--loglevel", "WARNING"]  # fmt: skip


def run_worker(master: str, node: str | None = None, out: str | Path = "reports",
               master_timeout_s: float = DEFAULT_MASTER_TIMEOUT_S) -> int:  # fmt: skip
    host, port = parse_hostport(master, "--master", DEFAULT_MASTER_PORT)
    node = node or f"{socket.gethostname()}-{os.getpid()}"
    if not NODE_NAME.fullmatch(node):
        raise InputError(f"--node {node!r}: 1-64 letters, digits, '.', '_' or '-' (it names the record files)")
    if not master_timeout_s > 0:
        raise InputError(f"--master-timeout must be above 0 (got {master_timeout_s:g})")
    out_dir = Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != Env.RUNTIME}  # the master's runtime is not ours
    env |= {Env.WORKER_DIR: str(out_dir), Env.NODE: node, Env.MASTER_TIMEOUT: f"{master_timeout_s:g}",
            "PYTHONUNBUFFERED": "1"}  # fmt: skip
    print(f"harness: worker {node} (pid {os.getpid()}) -> master {host}:{port}; records under {out_dir}", flush=True)
    process = subprocess.Popen(worker_argv(host, port), env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            process.send_signal(signal.SIGINT)  # Locust's graceful quit: records go home first
        elif len(received) >= 3:
            process.kill()

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = 128 - code if code < 0 else code  # killed by a signal: the shell's convention
    print(f"harness: worker {node} exited with code {code}", flush=True)
    return code
