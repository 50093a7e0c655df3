"""Limits that hold before anything is buffered, on a real `harness target` process: a body over the limit
gets 413 while it is being read (at once when Content-Length says so), a request head with too many or too
large headers gets 431, a client that sends its head or body too slowly (or nothing at all) is cut off, and
the server's memory stays flat under a 64 MiB body and under 100 slow connections."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from .conftest import CLIENT_ID, CLIENT_SECRET, Target, start_target

pytestmark = pytest.mark.integration
MIB = 1 << 20
HEADER_TIMEOUT_S = 1
BODY_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("limits")
    with start_target(tmp, "--header-timeout-s", str(HEADER_TIMEOUT_S), "--body-timeout-s", str(BODY_TIMEOUT_S),
                      name="limited") as server:
        yield server


def rss_mib(target: Target) -> float:
    """Resident memory of the target's processes (the parent and its uvicorn workers)."""
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == target.port and conn.status == psutil.CONN_LISTEN and conn.pid:
            root = psutil.Process(conn.pid)
            procs = [root, *root.children(recursive=True)]
            return float(sum(p.memory_info().rss for p in procs)) / MIB
    raise AssertionError("no process listens on the target's port")


@contextlib.contextmanager
def raw(target: Target, timeout_s: float = 10.0) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=timeout_s)
    try:
        yield sock
    finally:
        sock.close()


def status_of(sock: socket.socket) -> int:
    head = b""
    with contextlib.suppress(ConnectionError, TimeoutError):
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True if the server closes (or resets) the connection within `within_s`; any bytes it sends first
    (a 408) are read and dropped."""
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def token_ok(target: Target) -> bool:
    response = requests.post(f"{target.base}/token", data={"grant_type": "client_credentials"},
                             auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    return response.status_code == 200


def test_a_declared_oversized_body_is_413_before_it_is_sent(limited: Target) -> None:
    with raw(limited) as sock:
        sock.sendall(b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: %d\r\n\r\n" % (64 * MIB))
        assert status_of(sock) == 413  # answered without a byte of the body


def test_an_undeclared_oversized_body_is_413_while_it_is_read(limited: Target) -> None:
    with raw(limited) as sock:
        sock.sendall(b"POST /client/register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (4096, b" " * 4096)
        sent = 0
        with contextlib.suppress(ConnectionError):
            for _ in range(16):  # 64 KiB: well past the limit, well below what the socket buffers take
                sock.sendall(chunk)
                sent += 4096
        assert status_of(sock) == 413


def test_memory_stays_flat_under_a_64_mib_body(limited: Target) -> None:
    assert token_ok(limited)
    before = rss_mib(limited)
    peak = before
    for declared in (True, False):
        with raw(limited) as sock:
            length = b"Content-Length: %d\r\n" % (64 * MIB) if declared else b"Transfer-Encoding: chunked\r\n"
            sock.sendall(b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                         + length + b"\r\n")
            block = b"a" * (256 * 1024)
            piece = block if declared else b"%x\r\n%s\r\n" % (len(block), block)
            sent = 0
            with contextlib.suppress(ConnectionError, TimeoutError):
                while sent < 64 * MIB:
                    sock.sendall(piece)
                    sent += len(block)
                    if sent % (8 * MIB) == 0:
                        peak = max(peak, rss_mib(limited))
            assert sent < 64 * MIB  # the server stopped taking it
    peak = max(peak, rss_mib(limited))
    assert peak - before < 16, (before, peak)
    assert token_ok(limited)


@pytest.mark.parametrize("headers", [
    b"X-Big: " + b"a" * (64 * 1024) + b"\r\n",                        # one header far too large
    b"".join(b"X-H%d: v\r\n" % i for i in range(500)),                # far too many headers
])
def test_oversized_request_heads_get_431(limited: Target, headers: bytes) -> None:
    with raw(limited) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
        assert status_of(sock) == 431


def test_ordinary_heads_still_pass(limited: Target) -> None:
    headers = {f"X-H{i}": "v" * 40 for i in range(40)}
    assert requests.get(f"{limited.base}/healthz", headers=headers, timeout=5).status_code == 200


def test_a_slow_head_an_idle_connection_and_a_slow_body_are_cut_off(limited: Target) -> None:
    with raw(limited) as idle, raw(limited) as slow_head, raw(limited) as slow_body:
        slow_head.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        slow_body.sendall(b"POST /token HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                          b"Content-Length: 100\r\n\r\ngrant_type=")
        for sock in (idle, slow_head, slow_body):
            assert closed_by_server(sock, HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 3)


def test_a_keep_alive_connection_is_not_cut_off_while_it_works(limited: Target) -> None:
    with requests.Session() as session:
        for _ in range(4):  # spread over more than the head timeout
            assert session.get(f"{limited.base}/healthz", timeout=5).status_code == 200
            time.sleep(HEADER_TIMEOUT_S / 2)


def test_memory_stays_flat_and_service_goes_on_under_100_slow_connections(limited: Target) -> None:
    assert token_ok(limited)
    before = rss_mib(limited)
    socks = [socket.create_connection(("127.0.0.1", limited.port), timeout=5) for _ in range(100)]
    stop = threading.Event()

    def trickle() -> None:  # one header line a connection every 0.3 s: a slowloris
        while not stop.is_set():
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: y\r\n")
            time.sleep(0.3)

    try:
        for sock in socks:
            sock.sendall(b"POST /token HTTP/1.1\r\nHost: t\r\n")
        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        assert token_ok(limited)  # others are still served meanwhile
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 5
        open_socks = list(socks)
        while open_socks and time.monotonic() < deadline:
            open_socks = [s for s in open_socks if not closed_by_server(s, 0.05)]
        assert not open_socks, f"{len(open_socks)} slow connections still open"
        assert rss_mib(limited) - before < 16
    finally:
        stop.set()
        for sock in socks:
            sock.close()
    assert token_ok(limited)


def test_the_limits_are_the_targets_own_options(tmp_path: Path) -> None:
    with start_target(tmp_path, name="defaults") as server, raw(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        assert not closed_by_server(sock, 2.0)  # the default head timeout (10 s) is not 1 s
