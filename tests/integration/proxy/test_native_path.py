"""Connections no toxic touches go through the native relay, and nothing a user sees changes: the same bytes
and counts as the Python path, toxics that apply to open connections at once, a proxy going down that cuts
them. Through a real proxy (in-process, its own loop) in front of a real keep-alive HTTP server."""

from __future__ import annotations

import contextlib
import random
import re
import socket
import threading
import time

import pytest

from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from tests.helpers import LOOPBACK

pytestmark = pytest.mark.integration
GET = b"GET /token HTTP/1.1\r\nHost: idp\r\n\r\n"


def _metrics(client: ToxiproxyClient, proxy: str = "sso") -> dict[str, int]:
    """This proxy's counters from GET /metrics, by metric name (bytes by direction)."""
    found: dict[str, int] = {}
    for name, labels, value in re.findall(r"^(harness_proxy_\w+)\{([^}]*)\} (\d+)$", client.metrics(), re.MULTILINE):
        if f'proxy="{proxy}"' in labels and "toxic=" not in labels:
            direction = re.search(r'direction="(\w+)"', labels)
            found[name + (f"_{direction.group(1)}" if direction else "")] = int(value)
    return found


def _until(check: object, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert check(), "not within the time"  # type: ignore[operator]


class Keepalive:
    """One client connection, request after request (responses framed by Content-Length)."""

    def __init__(self, port: int):
        self.sock = socket.create_connection((LOOPBACK, port), timeout=5)
        self.received = 0

    def ask(self, *pieces: bytes, pause_s: float = 0.0) -> bytes:
        for piece in pieces:
            self.sock.sendall(piece)
            time.sleep(pause_s)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed after {data!r}"
            body += chunk
        self.received += len(head) + 4 + len(body)
        return head.split(b"\r\n", 1)[0] + b" " + body

    def close(self) -> None:
        self.sock.close()


def _traffic(port: int, client: ToxiproxyClient) -> tuple[list[bytes], int, int]:
    """Requests a client makes of an IdP: GETs, a token POST whose body comes in two pieces, a POST whose
    head comes in two (the relay leaves that one to Python). Returns the answers, the bytes sent and how
    many connections the native relay had after the first answer."""
    body = b"grant_type=client_credentials&scope=openid"
    post = b"POST /token HTTP/1.1\r\nHost: idp\r\nContent-Length: %d\r\n\r\n" % len(body)
    conn = Keepalive(port)
    answers = [conn.ask(GET)]
    native = _metrics(client)["harness_proxy_connections_native"]
    answers += [conn.ask(post + body[:7], body[7:], pause_s=0.05), conn.ask(post[:20], post[20:] + body, pause_s=0.05),
                conn.ask(GET)]  # fmt: skip
    conn.close()
    return answers, len(GET) * 2 + len(post + body) * 2, native


def test_a_plain_connection_is_relayed_natively_and_counted_live(proxied: tuple[ToxiproxyClient, int]) -> None:
    client, port = proxied
    conn = Keepalive(port)
    assert conn.ask(GET) == b"HTTP/1.1 200 OK ok GET /token"
    assert conn.ask(GET) == b"HTTP/1.1 200 OK ok GET /token"
    live = _metrics(client)
    assert live["harness_proxy_connections_native"] == 1
    assert live["harness_proxy_requests_total"] == 2
    assert live["harness_proxy_bytes_total_upstream"] == 2 * len(GET)
    assert live["harness_proxy_bytes_total_downstream"] == conn.received
    conn.close()
    _until(lambda: _metrics(client)["harness_proxy_connections_active"] == 0)
    after = _metrics(client)
    assert after["harness_proxy_connections_native"] == 0
    assert after["harness_proxy_requests_total"] == 2  # counted once, when the relay handed it back
    assert after["harness_proxy_bytes_total_downstream"] == conn.received


def test_the_native_and_python_paths_agree(upstream: str) -> None:
    seen = {}
    for native in (True, False):
        with ProxyServerThread(seed=3, native=native) as server:
            client = ToxiproxyClient(server.api_url)
            port = int(client.create_proxy("sso", upstream=upstream)["listen"].rsplit(":", 1)[1])
            answers, sent, relayed = _traffic(port, client)
            _until(lambda: _metrics(client)["harness_proxy_connections_active"] == 0)  # noqa: B023
            seen[native] = (answers, _metrics(client))
            client.close()
        assert relayed == int(native)
        assert seen[native][1]["harness_proxy_bytes_total_upstream"] == sent
    # handed to the relay once the upstream is up; the split head brings it back to Python, where it stays
    assert seen[True][1].pop("harness_proxy_native_handovers_total") == 1
    assert seen[False][1].pop("harness_proxy_native_handovers_total") == 0
    assert seen[True] == seen[False]
    assert seen[True][1]["harness_proxy_requests_total"] == 4


def test_a_toxic_applies_at_once_to_a_connection_the_relay_had(proxied: tuple[ToxiproxyClient, int]) -> None:
    client, port = proxied
    conn = Keepalive(port)
    conn.ask(GET)
    assert _metrics(client)["harness_proxy_connections_native"] == 1
    client.add_toxic("sso", "latency", stream="downstream", attributes={"latency": 300})
    assert _metrics(client)["harness_proxy_connections_native"] == 0
    started = time.monotonic()
    assert conn.ask(GET) == b"HTTP/1.1 200 OK ok GET /token"  # the same connection, now slow
    assert time.monotonic() - started >= 0.29
    client.remove_toxic("sso", "latency_downstream")
    started = time.monotonic()
    conn.ask(GET)
    assert time.monotonic() - started < 0.2
    assert _metrics(client)["harness_proxy_requests_total"] == 3
    assert _metrics(client)["harness_proxy_native_handovers_total"] == 2  # and back to the relay
    conn.close()


def test_an_http_fault_answers_the_next_request_of_a_native_connection(proxied: tuple[ToxiproxyClient, int]) -> None:
    client, port = proxied
    conn = Keepalive(port)
    conn.ask(GET)
    client.add_toxic("sso", "http_error", stream="upstream", attributes={"path": "/token", "status": 503})
    assert conn.ask(GET).startswith(b"HTTP/1.1 503")
    counts = client.metrics()
    assert re.search(r'harness_proxy_toxic_faults_injected_total\{proxy="sso",toxic="http_error_upstream"[^}]*\} 1$',
                     counts, re.MULTILINE)  # fmt: skip
    assert _metrics(client)["harness_proxy_requests_total"] == 2
    conn.close()


def test_a_proxy_going_down_cuts_its_native_connections(proxied: tuple[ToxiproxyClient, int]) -> None:
    client, port = proxied
    conn = Keepalive(port)
    conn.ask(GET)
    assert _metrics(client)["harness_proxy_connections_native"] == 1
    client.disable("sso")
    conn.sock.settimeout(3)
    with contextlib.suppress(ConnectionResetError):  # cut with a FIN or an RST
        assert conn.sock.recv(10) == b""
    assert _metrics(client)["harness_proxy_connections_active"] == 0
    assert _metrics(client)["harness_proxy_requests_total"] == 1
    client.enable("sso")
    assert Keepalive(port).ask(GET) == b"HTTP/1.1 200 OK ok GET /token"
    conn.close()


class Echo:
    """A TCP upstream that writes back whatever it reads, on every connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOOPBACK, 0))
        self.address = f"{LOOPBACK}:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while chunk := conn.recv(65536):
                conn.sendall(chunk)


def test_a_transfer_larger_than_the_socket_buffers_arrives_whole_and_in_order() -> None:
    """Megabytes each way at once: the relay's writes come up short, it hands the connection back with
    what it owes, and Python delivers the rest, in order."""
    echo = Echo()
    body = random.Random(7).randbytes(8 << 20)
    request = b"POST /upload HTTP/1.1\r\nHost: idp\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with ProxyServerThread(seed=3) as server:
        client = ToxiproxyClient(server.api_url)
        port = int(client.create_proxy("echo", upstream=echo.address)["listen"].rsplit(":", 1)[1])
        conn = Keepalive(port)
        sender = threading.Thread(target=conn.sock.sendall, args=(request,))
        sender.start()
        received = bytearray()
        while len(received) < len(request):
            chunk = conn.sock.recv(1 << 20)
            assert chunk, f"closed after {len(received)} bytes"
            received += chunk
        sender.join()
        assert bytes(received) == request
        counts = _metrics(client, "echo")
        assert counts["harness_proxy_requests_total"] == 1
        assert counts["harness_proxy_bytes_total_upstream"] == len(request)
        assert counts["harness_proxy_bytes_total_downstream"] == len(request)
        conn.close()
        client.close()
    echo.sock.close()


def test_a_connection_goes_back_to_the_relay_when_the_toxic_goes(proxied: tuple[ToxiproxyClient, int]) -> None:
    client, port = proxied
    conn = Keepalive(port)
    conn.ask(GET)
    client.add_toxic("sso", "latency", stream="downstream", attributes={"latency": 50})
    conn.ask(GET)
    assert _metrics(client)["harness_proxy_connections_native"] == 0
    client.remove_toxic("sso", "latency_downstream")
    _until(lambda: _metrics(client)["harness_proxy_connections_native"] == 1)
    assert conn.ask(GET) == b"HTTP/1.1 200 OK ok GET /token"
    assert _metrics(client)["harness_proxy_requests_total"] == 3
    conn.close()
