"""End of stream through the proxy, with a hand-driven upstream socket: a client that shuts down its
write side still gets its answer, and closing either side mid-stream leaves no connection behind."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from harness.proxy.client import ToxiproxyClient
from harness.proxy.collection import Proxy
from harness.proxy.server import ProxyServerThread

pytestmark = pytest.mark.integration


class Upstream:
    """One listening socket; each accepted connection runs `handler` in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None]):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.done = threading.Event()
        self.errors: list[BaseException] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        try:
            with conn:
                self.handler(conn)
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)
        finally:
            self.done.set()

    def close(self) -> None:
        self.sock.close()


def _read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def server() -> Iterator[ProxyServerThread]:
    with ProxyServerThread(seed=5) as server:
        yield server


def _proxy_to(server: ProxyServerThread, upstream: Upstream) -> tuple[Proxy, int]:
    client = ToxiproxyClient(server.api_url)
    created = client.create_proxy(f"hc{upstream.port}", upstream=f"127.0.0.1:{upstream.port}")
    client.close()
    assert server.server is not None
    return server.server.proxies.get(created["name"]), int(created["listen"].rsplit(":", 1)[1])


def _no_connection_left(proxy: Proxy, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proxy.links and proxy.counters.connections_active == 0:
            return
        time.sleep(0.01)
    raise AssertionError(f"{len(proxy.links)} links, {proxy.counters.connections_active} active")


def test_client_half_close_reaches_upstream_and_the_answer_comes_back(server: ProxyServerThread) -> None:
    def answer_at_eof(conn: socket.socket) -> None:
        received = _read_to_eof(conn)  # returns only once the proxy passed the client's FIN on
        conn.sendall(b"got %d bytes" % len(received))
        time.sleep(0.05)  # the answer goes out in two writes, after the EOF
        conn.sendall(b" and done")

    upstream = Upstream(answer_at_eof)
    proxy, port = _proxy_to(server, upstream)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"x" * 100_000)
        sock.shutdown(socket.SHUT_WR)
        assert _read_to_eof(sock) == b"got 100000 bytes and done"
    assert upstream.done.wait(5) and not upstream.errors
    _no_connection_left(proxy)
    assert proxy.counters.connections_total == 1
    upstream.close()


def test_upstream_half_close_reaches_the_client_which_can_still_send(server: ProxyServerThread) -> None:
    def close_write_first(conn: socket.socket) -> None:
        conn.sendall(b"banner")
        conn.shutdown(socket.SHUT_WR)
        assert _read_to_eof(conn) == b"late request"

    upstream = Upstream(close_write_first)
    proxy, port = _proxy_to(server, upstream)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert _read_to_eof(sock) == b"banner"  # the server's FIN arrived...
        sock.sendall(b"late request")  # ...and the other direction still works
        sock.shutdown(socket.SHUT_WR)
    assert upstream.done.wait(5) and not upstream.errors
    _no_connection_left(proxy)
    upstream.close()


@pytest.mark.parametrize("abort", [False, True], ids=["fin", "rst"])
def test_client_gone_mid_stream_closes_the_upstream_side(server: ProxyServerThread, abort: bool) -> None:
    seen: list[bytes] = []

    def hold(conn: socket.socket) -> None:
        seen.append(conn.recv(65536))
        conn.settimeout(5)
        try:
            seen.append(_read_to_eof(conn))  # the proxy closes its side once the client is gone
        except ConnectionResetError:
            seen.append(b"<reset>")

    upstream = Upstream(hold)
    proxy, port = _proxy_to(server, upstream)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"POST /token HTTP/1.1\r\nContent-Length: 1000\r\n\r\npartial")
    deadline = time.monotonic() + 3
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    if abort:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    assert upstream.done.wait(5), "the upstream connection was left open"
    _no_connection_left(proxy)
    upstream.close()


def test_upstream_gone_mid_stream_closes_the_client_side(server: ProxyServerThread) -> None:
    def vanish(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npart")  # then dies mid-body

    upstream = Upstream(vanish)
    proxy, port = _proxy_to(server, upstream)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_to_eof(sock).endswith(b"part")  # what was sent arrives, then the close
    _no_connection_left(proxy)
    upstream.close()
