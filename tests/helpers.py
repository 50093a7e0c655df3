"""Helpers for tests that start real processes on loopback: a free port, readiness by polling (never a
fixed sleep), and a process handle that is always stopped by its own PID."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (the OS picks it; a race with other tests is unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_http_ok(
    url: str,
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.05,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll `url` until it answers 200; fail early if `process` exits, and after `timeout_s` at most."""
    deadline = time.monotonic() + timeout_s
    last_error: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited ({process.returncode}) before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = exc
        time.sleep(interval_s)
    raise TimeoutError(f"{url} not ready after {timeout_s} s (last error: {last_error})")


def stop_process(process: subprocess.Popen[bytes], *, timeout_s: float = 10.0) -> int:
    """SIGTERM the process we started, by its PID; SIGKILL it if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
    return int(process.returncode)


@contextlib.contextmanager
def running_process(
    argv: Sequence[str],
    *,
    log_dir: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    ready_url: str | None = None,
    ready_timeout_s: float = 20.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `argv` with stdout/stderr in `log_dir/name.{out,err}`, wait for `ready_url`, always stop it."""
    full_env = {**os.environ, **(env or {})}
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.out", "wb") as out, open(log_dir / f"{name}.err", "wb") as err:
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, env=full_env, cwd=os.getcwd())
        try:
            if ready_url is not None:
                try:
                    wait_http_ok(ready_url, timeout_s=ready_timeout_s, process=process)
                except (TimeoutError, RuntimeError) as exc:  # say what the process said, not only that it failed
                    raise type(exc)(f"{exc}; {name}'s log ends: {_log_tail(log_dir, name)}") from None
            yield process
        finally:
            stop_process(process)


def _log_tail(log_dir: Path, name: str, lines: int = 5) -> str:
    found = []
    for stream in ("err", "out"):
        try:
            text = (log_dir / f"{name}.{stream}").read_text(errors="replace").strip()
        except OSError:
            continue
        if text:
            found.append(f"{stream}: " + " | ".join(text.splitlines()[-lines:]))
    return "; ".join(found) or "(nothing)"


def harness_argv(*args: str) -> list[str]:
    """`python -m harness ARGS` with the interpreter running the tests."""
    return [sys.executable, "-m", "harness", *args]
