"""New toxics through real sockets (in-process proxy on its own loop, a keep-alive HTTP upstream)."""

from __future__ import annotations

import socket
import time

import pytest
import requests

pytestmark = pytest.mark.integration
REQUEST = b"GET /token HTTP/1.1\r\nHost: x\r\n\r\n"


def _exchange(port: int, data: bytes = REQUEST, timeout_s: float = 3.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(data)
        chunks: list[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and data.count(b"HTTP/1.1") == 1:
                head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    return b"".join(chunks)


def test_reset_peer_gives_connection_reset(proxied) -> None:
    client, port = proxied
    client.add_toxic("sso", "reset_peer", stream="upstream", attributes={"timeout": 50})
    started = time.monotonic()
    with pytest.raises(ConnectionResetError):
        _exchange(port)
    assert time.monotonic() - started >= 0.045


def test_http_drop_close_and_reset(proxied) -> None:
    client, port = proxied
    client.add_toxic("sso", "http_drop", stream="upstream", attributes={"path": "/token"})
    assert _exchange(port) == b""  # closed without an answer
    client.remove_toxic("sso", "http_drop_upstream")
    client.add_toxic("sso", "http_drop", stream="upstream", attributes={"path": "/token", "mode": "reset"})
    with pytest.raises(ConnectionResetError):
        _exchange(port)


def test_limit_data_cuts_the_response(proxied) -> None:
    client, port = proxied
    client.add_toxic("sso", "limit_data", attributes={"bytes": 20})
    assert len(_exchange(port)) == 20


def test_timeout_closes_after_idle(proxied) -> None:
    client, port = proxied
    client.add_toxic("sso", "timeout", attributes={"timeout": 100})
    started = time.monotonic()
    assert _exchange(port) == b""
    assert 0.09 <= time.monotonic() - started < 2


def test_keep_alive_throttle_and_stats(proxied) -> None:
    client, port = proxied
    client.add_toxic("sso", "http_throttle", stream="upstream", attributes={"rate": 0.001, "burst": 2})
    with requests.Session() as session:
        codes = [session.get(f"http://127.0.0.1:{port}/token", timeout=3).status_code for _ in range(5)]
    assert codes == [200, 200, 429, 429, 429]
    stats = requests.get(f"{client.api_url}/proxies/sso/toxics/http_throttle_upstream/stats", timeout=3).json()
    assert stats["requests_matched"] == 5 and stats["faults_injected"] == 3


def test_observed_fault_rate_over_real_keep_alive_connections(proxied) -> None:
    client, port = proxied
    client.add_toxic("sso", "http_error", stream="upstream", attributes={"path": "/token", "probability": 0.3})
    with requests.Session() as session:
        codes = [session.get(f"http://127.0.0.1:{port}/token", timeout=3).status_code for _ in range(1000)]
    assert abs(codes.count(503) / 1000 - 0.3) <= 0.05


def test_busy_port_is_an_api_error_not_a_crash(proxied) -> None:
    client, port = proxied
    response = requests.post(
        f"{client.api_url}/proxies",
        json={"name": "clash", "upstream": "127.0.0.1:1", "listen": f"127.0.0.1:{port}"},
        timeout=3,
    )
    assert response.status_code == 500 and "could not listen" in response.json()["error"]
    assert "clash" not in client.get_proxies() and client.get_proxies()["sso"]["enabled"]


def test_bad_toxic_changes_nothing(proxied) -> None:
    client, _port = proxied
    response = requests.post(
        f"{client.api_url}/proxies/sso/toxics", json={"type": "slicer", "attributes": {"delay": -1}}, timeout=3
    )
    assert response.status_code == 400
    assert client.get_proxies()["sso"]["toxics"] == []
