"""Small loopback pieces the fidelity tests control completely: an HTTP server that can stall like a paused
process; a record sink
that keeps the Caller's rows in memory; a `harness proxy` process with one proxy in front of a server; the
real embedded target as a process, with its request log."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.contract import AttemptRow, Env, OperationRow
from harness.proxy.client import ToxiproxyClient
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process


@dataclass
class ServerLog:
    """How the server behaves."""

    stall_from: float | None = None  # epoch s: requests arriving in [stall_from, stall_from + stall_s) wait
    stall_s: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, +40 ms delayed ACK
    server: _Server

    def _answer(self) -> None:
        log = self.server.log
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.time()
        if log.stall_from is not None and log.stall_from <= now < log.stall_from + log.stall_s:
            time.sleep(log.stall_from + log.stall_s - now)  # held like a SIGSTOPped server, released together
        body = b'{"access_token":"x","token_type":"Bearer"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *_: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    log: ServerLog


@contextlib.contextmanager
def logging_server(log: ServerLog) -> Iterator[str]:
    server = _Server((LOOPBACK, 0), _Handler)
    server.log = log
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class MemorySink:
    """The Caller's record sink, kept in lists (the same rows the Recorder writes to Parquet)."""

    def __init__(self) -> None:
        self.attempts: list[AttemptRow] = []
        self.operations: list[OperationRow] = []
        self._lock = threading.Lock()

    def attempt(self, row: AttemptRow) -> None:
        with self._lock:
            self.attempts.append(row)

    def operation(self, row: OperationRow) -> None:
        with self._lock:
            self.operations.append(row)


@contextlib.contextmanager
def proxy_in_front(upstream_url: str, log_dir: Path, name: str = "fid") -> Iterator[tuple[ToxiproxyClient, str]]:
    """A real `harness proxy` process with proxy `name` in front of `upstream_url`; yields (API client, url)."""
    api_port, listen_port = free_port(), free_port()
    api = f"http://{LOOPBACK}:{api_port}"
    with running_process(harness_argv("proxy", "--port", str(api_port)), log_dir=log_dir, name="proxy",
                         ready_url=f"{api}/version"):  # fmt: skip
        client = ToxiproxyClient(api)
        client.create_proxy(name, upstream_url.removeprefix("http://"), listen=f"{LOOPBACK}:{listen_port}")
        try:
            yield client, f"http://{LOOPBACK}:{listen_port}"
        finally:
            client.close()


@dataclass
class Target:
    url: str
    request_log: Path
    client_id: str = "fidelity-client"
    client_secret: str = "fidelity-secret-not-real-0001"  # a throwaway value for a throwaway store

    def served(self) -> list[dict[str, Any]]:
        """The request log's lines; complete once the target has stopped (it flushes at shutdown)."""
        return [json.loads(line) for line in self.request_log.read_text().splitlines()]


@contextlib.contextmanager
def target_process(log_dir: Path, *, workers: int = 1) -> Iterator[Target]:
    """A real `harness target` with `--request-log`; after the block it has stopped and flushed its log."""
    port = free_port()
    target = Target(f"http://{LOOPBACK}:{port}", log_dir / "requests.jsonl")
    argv = harness_argv("target", "--port", str(port), "--db", str(log_dir / "target.sqlite3"), "--seed-users", "0",
                        "--workers", str(workers), "--request-log", str(target.request_log))  # fmt: skip
    env = {Env.CLIENT_ID: target.client_id, Env.CLIENT_SECRET: target.client_secret}
    with running_process(argv, log_dir=log_dir, name="target", env=env, ready_url=f"{target.url}/healthz"):
        yield target
