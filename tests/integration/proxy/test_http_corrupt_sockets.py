"""http_corrupt truncate through real sockets: every faulted response reaches the client short, whatever
the body (small, large, chunked) and whether the connection is new or kept alive.

The regression it guards: on a new connection the request can be read before the upstream connection
exists (uvloop starts reading whatever connection_made asked), and a response intercept armed then was
lost whenever the upstream protocol existed but create_connection had not returned yet."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from tests.helpers import LOOPBACK

pytestmark = pytest.mark.integration

SMALL = b'{"access_token":"abc","expires_in":300}'
LARGE = bytes(range(256)) * 1024  # 256 KiB: several reads on the proxy's side
CHUNKS = [b"a" * 3000, b"b" * 5000, b"c" * 7]
ROUNDS = 25


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in CHUNKS:  # one write each: the response leaves in several segments
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        body = LARGE if self.path == "/large" else SMALL
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def proxied(upstream: str) -> Iterator[tuple[ToxiproxyClient, int]]:
    with ProxyServerThread(seed=5) as server:
        client = ToxiproxyClient(server.api_url)
        proxy = client.create_proxy("corrupt", upstream=upstream)
        yield client, int(proxy["listen"].rsplit(":", 1)[1])
        client.close()


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def _read_response(sock: socket.socket) -> tuple[bytes, bytes, bool]:
    """One response: (head, raw body, complete). Stops at the end of the framed body or at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data, b"", False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lower = head.lower()
    while True:
        if b"transfer-encoding: chunked" in lower:
            if body.endswith(b"\r\n0\r\n\r\n") or body == b"0\r\n\r\n":
                return head, body, True
        elif len(body) >= int(lower.split(b"content-length: ")[1].split(b"\r\n")[0]):
            return head, body, True
        chunk = sock.recv(65536)
        if not chunk:
            return head, body, False
        body += chunk


def _stats(client: ToxiproxyClient) -> dict[str, int]:
    url = f"{client.api_url}/proxies/corrupt/toxics/http_corrupt_upstream/stats"
    stats: dict[str, int] = requests.get(url, timeout=3).json()
    return stats


@pytest.mark.parametrize("path", ["/small", "/large", "/chunked"])
@pytest.mark.parametrize("reuse", [False, True], ids=["new-connection", "keep-alive"])
def test_every_truncated_response_reaches_the_client_short(proxied, path: str, reuse: bool) -> None:
    client, port = proxied
    client.add_toxic("corrupt", "http_corrupt", stream="upstream", attributes={"path": path, "mode": "truncate"})
    before = _stats(client)["faults_injected"]  # counters outlive a toxic removed and added again
    try:
        for _ in range(ROUNDS):
            with socket.create_connection((LOOPBACK, port), timeout=3) as sock:
                if reuse:  # a response that is not matched first, on the same connection
                    sock.sendall(_request("/other"))
                    assert _read_response(sock)[2]
                sock.sendall(_request(path))
                head, body, complete = _read_response(sock)
                assert head.startswith(b"HTTP/1.1 200") and not complete, (path, len(body))
                assert sock.recv(1) == b""  # and the proxy closed the connection
        assert _stats(client)["faults_injected"] - before == ROUNDS
    finally:
        client.remove_toxic("corrupt", "http_corrupt_upstream")


def test_keep_alive_connection_opened_before_the_toxic(proxied) -> None:
    client, port = proxied
    with socket.create_connection((LOOPBACK, port), timeout=3) as sock:
        sock.sendall(_request("/small"))
        assert _read_response(sock)[2]
        client.add_toxic(
            "corrupt", "http_corrupt", stream="upstream", attributes={"path": "/small", "mode": "truncate"}
        )
        try:
            sock.sendall(_request("/small"))
            assert not _read_response(sock)[2]
        finally:
            client.remove_toxic("corrupt", "http_corrupt_upstream")
