"""Processes a run starts: the target, the proxy, Locust. Each in its own session (so a Ctrl-C at the
terminal reaches only the orchestrator, which then stops them in order), logging to the run's logs/
(files created 0600: a log may say more than a report), stopped by the PID we started, never by name,
and killed by the kernel if the orchestrator dies without stopping them (harness.lifeline)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests

from harness.errors import InfrastructureError
from harness.lifeline import Spawner, preexec_die_with_parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    stop_signal: int = signal.SIGTERM  # Locust stops gracefully on SIGINT only
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open_private_log(self.log_path)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log, argv = self._log, list(self.argv)
        try:
            self.proc = Spawner.call(lambda: subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True, preexec_fn=preexec_die_with_parent(),
            ))  # fmt: skip
        except OSError as exc:
            raise InfrastructureError(f"{self.name} would not start: {exc}") from exc
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """`stop_signal`, then SIGKILL if it has not gone after `timeout_s`; returns the exit code."""
        if self.proc is not None and self.alive():
            self.proc.send_signal(self.stop_signal)
            if self.wait(timeout_s) is None:
                self.proc.kill()
                self.wait(5.0)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.returncode()

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def open_private_log(path: Path) -> IO[bytes]:
    """Open a log for appending, created 0600 whatever the umask (and made so if it was not)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def wait_until_ready(
    process: ManagedProcess,
    url: str,
    timeout_s: float = 30.0,
    ok: Callable[[requests.Response], bool] = lambda r: r.status_code < 500,
    verify: str | bool = True,
) -> None:
    """Poll `url` until it answers, the process dies, or the time is up (then InfrastructureError); an https
    `url` is checked against `verify` (a CA bundle, e.g. the run's CA)."""
    deadline = time.monotonic() + timeout_s
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    delay = 0.02
    while time.monotonic() < deadline:
        if not process.alive():
            raise InfrastructureError(
                f"{process.name} exited with code {process.returncode()} before it was ready; "
                f"last lines of {process.log_path}:\n{process.tail()}"
            )
        try:
            if ok(session.get(url, timeout=1.0)):
                return
        except requests.RequestException:
            pass
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    raise InfrastructureError(f"{process.name} did not answer {url} within {timeout_s:g} s; see {process.log_path}")
