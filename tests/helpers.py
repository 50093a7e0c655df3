"""Helpers for tests that start real processes on loopback: a free port, readiness by polling (never a
fixed sleep), and a process handle that is always stopped by its own PID."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
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


def recv_exactly(sock: socket.socket, n: int, timeout_s: float = 5.0) -> bytes:
    """Exactly n bytes from a stream socket, failing on an end of stream before them."""
    sock.settimeout(timeout_s)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def harness_argv(*args: str) -> list[str]:
    """`python -m harness ARGS` with the interpreter running the tests."""
    return [sys.executable, "-m", "harness", *args]


class AnswerThenClose:
    """A TCP upstream that answers each connection's first read with b"answer", then closes it, as nginx
    does at `keepalive_requests`: every connection through a proxy ends both ways. Close `sock` to stop it."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOOPBACK, 0))
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by the test
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"answer")

    @staticmethod
    def end_both_ways(port: int, connections: int, request: bytes = b"request") -> None:
        """`connections` connections through a proxy on `port` to this upstream, each ended both ways: the
        upstream's FIN comes through after its answer, then the client's goes back (as wrk's does when it
        reconnects after nginx ended a connection)."""
        for _ in range(connections):
            with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
                sock.sendall(request)
                received = b""
                while chunk := sock.recv(65536):
                    received += chunk
                assert received == b"answer", received


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def descriptors_left(process: subprocess.Popen[bytes], baseline: int, timeout_s: float = 5.0) -> int:
    """How many more descriptors `process` holds than `baseline`, once they stop falling (or after
    `timeout_s`, or once it exited: then the caller's check of its exit status says so)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None and open_descriptors(process.pid) > baseline:
        time.sleep(0.02)
    return 0 if process.poll() is not None else open_descriptors(process.pid) - baseline
