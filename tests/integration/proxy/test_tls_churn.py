"""`harness proxy` as a real process with TLS on both hops (its sessions in the native relay, and in Python
with --no-native), under connection churn: hundreds of TLS connections that end every way a client or an
upstream can end one (reset before, during and after the handshake, mid-request, mid-body, close without
close_notify, pipelined requests left unread, the upstream resetting mid-body). The proxy must still be
running and serving afterwards, and hold no connection.

Why: a `harness proxy` that dies takes every path of a run or a bench with it (a bench once lost its whole
proxy result to a process that aborted with glibc's "double free or corruption" during TLS rounds). The
proxy runs with PYTHONMALLOC=debug, so a native double free or a write into freed memory aborts it at
once, where plain glibc notices only some of them, some of the time.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from harness.proxy.client import ToxiproxyClient
from harness.tlsca import RunCA
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIG = 256 * 1024  # larger than one TLS record and than a socket buffer: a body still flowing when cut
CONNECTIONS_PER_KIND = 30
WORKERS = 8


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a client that crashes or a load generator stopping does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """An https keep-alive server for idp.test: /small, /big (256 KB) and /cut (256 KB announced, 32 KB
    sent, then an RST). Handshakes happen in the connection's thread, so a stalled one blocks no other."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("churn-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("idp.test").configure_cert(context)
    big = random.Random(1).randbytes(BIG)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            body = big if self.path in ("/big", "/cut") else b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path == "/cut":
                self.wfile.write(body[: 32 * 1024])
                self.wfile.flush()
                _reset(self.connection)
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle(self) -> None:
            try:
                super().handle()
            except (OSError, ValueError):  # the proxy cut this leg: that is the test, not a failure
                self.close_connection = True

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def finish_request(self, request: Any, client_address: Any) -> None:
            try:
                tls = context.wrap_socket(request, server_side=True)
            except OSError:
                request.close()
                return
            super().finish_request(tls, client_address)

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], str(ca_file)
    server.shutdown()
    server.server_close()


@dataclass
class Proxy:
    process: Any
    client: ToxiproxyClient
    port: int
    ca: str
    log_dir: Path


@pytest.fixture(params=[[], ["--no-native"]], ids=["relay-tls", "python-tls"])
def proxy(request: pytest.FixtureRequest, upstream: tuple[int, str], tmp_path: Path) -> Iterator[Proxy]:
    """`harness proxy` with the TLS sessions in its native relay (the default), or in Python."""
    upstream_port, upstream_ca = upstream
    ca = RunCA.create(tmp_path / "run-ca")
    leaf = ca.issue(["idp.test", LOOPBACK], "proxy")
    api_port = free_port()
    url = f"http://{LOOPBACK}:{api_port}"
    argv = harness_argv("proxy", "--port", str(api_port), *request.param)
    argv[1:1] = ["-X", "faulthandler"]  # a Python traceback beside the native abort, if it comes to that
    log_dir = tmp_path / "logs"
    env = {"PYTHONMALLOC": "debug"}
    with running_process(argv, log_dir=log_dir, name="proxy", env=env, ready_url=f"{url}/version") as process:
        client = ToxiproxyClient(url)
        created = client.create_proxy("idp", f"{LOOPBACK}:{upstream_port}", listen=f"{LOOPBACK}:0",
                                      listen_tls={"cert": str(leaf.cert), "key": str(leaf.key)},
                                      upstream_tls={"server_name": "idp.test", "ca": upstream_ca})  # fmt: skip
        yield Proxy(process, client, int(created["listen"].rsplit(":", 1)[1]), str(ca.cert_path), log_dir)
        client.close()


def _client_context(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: idp.test\r\n\r\n".encode()


def _read_response(tls: ssl.SSLSocket) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length (all the upstream sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection ended inside the head: {data[:80]!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection ended after {len(body)} of {length} body bytes")
        body += chunk
    return status, body


def _churn_kinds(port: int, context: ssl.SSLContext) -> dict[str, Callable[[random.Random], None]]:
    """Each way of ending one connection, on a new connection to the proxy's TLS listener."""

    def connect() -> socket.socket:
        return socket.create_connection((LOOPBACK, port), timeout=10)

    def tls() -> ssl.SSLSocket:
        return context.wrap_socket(connect(), server_hostname="idp.test")

    def reset_before_hello(rng: random.Random) -> None:
        _reset(connect())

    def reset_mid_handshake(rng: random.Random) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        half = context.wrap_bio(incoming, outgoing, server_hostname="idp.test")
        with pytest.raises(ssl.SSLWantReadError):
            half.do_handshake()
        hello = outgoing.read()
        sock = connect()
        sock.sendall(hello[: rng.randrange(1, len(hello))])
        _reset(sock)

    def reset_after_handshake(rng: random.Random) -> None:
        _reset(tls())

    def reset_mid_request(rng: random.Random) -> None:
        sock, request = tls(), _request("/big")
        sock.sendall(request[: rng.randrange(1, len(request))])
        _reset(sock)

    def reset_mid_body(rng: random.Random) -> None:
        sock = tls()
        sock.sendall(_request("/big"))
        sock.recv(rng.randrange(1, 16384))
        _reset(sock)

    def close_mid_body_without_close_notify(rng: random.Random) -> None:
        sock = tls()
        sock.sendall(_request("/big"))
        sock.recv(rng.randrange(1, 16384))
        sock.close()

    def pipelined_then_reset(rng: random.Random) -> None:
        sock = tls()
        sock.sendall(_request("/small") * 5 + _request("/big"))
        sock.recv(100)
        _reset(sock)

    def upstream_resets_mid_body(rng: random.Random) -> None:
        with tls() as sock:
            sock.sendall(_request("/cut"))
            with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
                _read_response(sock)

    def keep_alive_then_close_notify(rng: random.Random) -> None:
        sock = tls()
        for path in ("/small", "/big", "/small"):
            sock.sendall(_request(path))
            status, _ = _read_response(sock)
            assert status == 200
        sock.unwrap().close()

    return {f.__name__: f for f in (reset_before_hello, reset_mid_handshake, reset_after_handshake, reset_mid_request,
                                    reset_mid_body, close_mid_body_without_close_notify, pipelined_then_reset,
                                    upstream_resets_mid_body, keep_alive_then_close_notify)}  # fmt: skip


def _active_connections(client: ToxiproxyClient) -> int:
    found = re.search(r'harness_proxy_connections_active\{proxy="idp"\} (\d+)', client.metrics())
    assert found, "no connections_active gauge for the proxy in /metrics"
    return int(found.group(1))


def _describe_death(proxy: Proxy) -> str:
    code = proxy.process.returncode
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"
    stderr = (proxy.log_dir / "proxy.err").read_text(errors="replace")[-2000:]
    return f"harness proxy {how}; its stderr ends:\n{stderr}"


def test_tls_proxy_survives_abrupt_closes_on_both_hops_and_still_serves(proxy: Proxy) -> None:
    context = _client_context(proxy.ca)
    kinds = _churn_kinds(proxy.port, context)
    jobs = [(name, seed) for name in kinds for seed in range(CONNECTIONS_PER_KIND)]
    random.Random(7).shuffle(jobs)
    failures: list[str] = []
    deadline = time.monotonic() + 60  # bounded even on a loaded machine

    def run(job: tuple[str, int]) -> None:
        name, seed = job
        if time.monotonic() > deadline or proxy.process.poll() is not None:
            return
        try:
            kinds[name](random.Random(seed))
        except OSError as exc:
            # a connection this test ends abruptly may end in an error on its own side too; a healthy one may not
            if name == "keep_alive_then_close_notify":
                failures.append(f"{name}: {exc!r}")
        except (AssertionError, pytest.fail.Exception) as exc:  # a wrong answer
            failures.append(f"{name}: {exc}")

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(run, jobs))

    assert proxy.process.poll() is None, _describe_death(proxy)
    assert time.monotonic() <= deadline, "churn did not finish in 60 s"
    assert not failures, failures[:5]
    # still serving: a new connection, keep-alive requests answered in full
    with context.wrap_socket(socket.create_connection((LOOPBACK, proxy.port), timeout=10),
                             server_hostname="idp.test") as sock:  # fmt: skip
        for _ in range(20):
            sock.sendall(_request("/big"))
            status, body = _read_response(sock)
            assert (status, len(body)) == (200, BIG)
    # and every churned connection was let go (polled: closes finish on the proxy's loop)
    settle = time.monotonic() + 10
    while _active_connections(proxy.client) and time.monotonic() < settle:
        time.sleep(0.05)
    assert _active_connections(proxy.client) == 0
    # nothing went wrong inside on the way: no native abort message, no Python fatal error, and no asyncio
    # "Fatal error on SSL protocol" (uvloop's TLS protocol working on a TCP handle already closed under it)
    stderr = (proxy.log_dir / "proxy.err").read_text(errors="replace")
    for sign in ("Fatal", "Traceback", "double free", "corruption"):
        assert sign not in stderr, stderr[-3000:]
    assert proxy.process.poll() is None, _describe_death(proxy)
