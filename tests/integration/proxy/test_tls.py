"""TLS on both hops of the proxy, through real sockets: an https upstream with a certificate for
`idp.test` from a test CA (trustme), the proxy terminating TLS with a certificate from the run's CA
(harness.tlsca) and opening TLS again towards the upstream, and the clients' own transport reaching
`https://idp.test:<port>` through the proxy's listener (the origin map)."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from harness.clients.classify import classify_exception, classify_response
from harness.clients.transport import OriginMap, Route, make_session
from harness.proxy import relay
from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread
from harness.tlsca import RunCA
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process

pytestmark = pytest.mark.integration


@dataclass
class TlsUpstream:
    port: int
    ca_file: str
    seen: list[tuple[str | None, str | None, str]] = field(default_factory=list)  # (SNI, Host, path)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsUpstream]:
    """An https HTTP/1.1 keep-alive server for idp.test that records SNI, Host and path of each request."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("idp-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("idp.test").configure_cert(context)
    sni: dict[int, str | None] = {}

    def remember(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        sni[id(sock)] = name

    context.sni_callback = remember
    state = TlsUpstream(0, str(ca_file))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            state.seen.append((sni.get(id(self.connection)), self.headers.get("Host"), self.path))
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):
            sock, addr = super().get_request()
            return context.wrap_socket(sock, server_side=True), addr

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a reset toxic resets this side too (test_a_reset_reaches_the_client_leg): not a test failure

    server = Server((LOOPBACK, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.port = server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


# Where the TLS sessions live: in the native relay (the default where it is built with OpenSSL) or in
# Python (uvloop's TLS: `harness proxy --no-native`, a relay without OpenSSL, TLS on one hop only).
SESSIONS = pytest.mark.parametrize("native", [True, False], ids=["relay-tls", "python-tls"])


@pytest.fixture(params=[True, False], ids=["relay-tls", "python-tls"])
def proxy(
    request: pytest.FixtureRequest, upstream: TlsUpstream, tmp_path: Path
) -> Iterator[tuple[ToxiproxyClient, requests.Session, str]]:
    """A proxy for idp.test terminating and re-originating TLS, and a client session routed through it."""
    ca = RunCA.create(tmp_path / "run-ca")
    leaf = ca.issue(["idp.test"], "proxy")
    with ProxyServerThread(seed=5, native=request.param) as server:
        client = ToxiproxyClient(server.api_url)
        created = client.create_proxy("idp", f"{LOOPBACK}:{upstream.port}",
                                      listen_tls={"cert": str(leaf.cert), "key": str(leaf.key)},
                                      upstream_tls={"server_name": "idp.test", "ca": upstream.ca_file})
        listen_port = int(created["listen"].rsplit(":", 1)[1])
        route = Route(LOOPBACK, listen_port, str(ca.cert_path))
        session = make_session(origins=OriginMap({("https", "idp.test", upstream.port): route}))
        yield client, session, f"https://idp.test:{upstream.port}"
        session.close()
        client.close()


def test_requests_reach_the_upstream_with_its_name_path_and_query(proxy, upstream: TlsUpstream) -> None:
    _client, session, base = proxy
    upstream.seen.clear()
    for _ in range(3):  # keep-alive: one handshake on each hop, three requests
        response = session.get(f"{base}/realms/x/token?a=1&b=2", timeout=5)
        assert (response.status_code, response.text) == (200, "ok")
    assert upstream.seen == [("idp.test", f"idp.test:{upstream.port}", "/realms/x/token?a=1&b=2")] * 3


def test_http_toxics_see_the_decrypted_requests(proxy) -> None:
    client, session, base = proxy
    client.add_toxic("idp", "http_error", stream="upstream", attributes={"path": "/token", "status": 503})
    assert session.get(f"{base}/token", timeout=5).status_code == 503
    assert session.get(f"{base}/jwks", timeout=5).status_code == 200


def test_a_reset_reaches_the_client_leg(proxy) -> None:
    client, session, base = proxy
    client.add_toxic("idp", "reset_peer", stream="upstream", attributes={"timeout": 0})
    with pytest.raises(requests.ConnectionError) as caught:
        session.get(f"{base}/token", timeout=5)
    assert classify_exception(caught.value) == "reset"
    client.reset()
    assert session.get(f"{base}/token", timeout=5).status_code == 200  # a new handshake, and on


@SESSIONS
def test_an_untrusted_upstream_certificate_is_a_tls_error_answer(
    upstream: TlsUpstream, tmp_path: Path, native: bool
) -> None:
    ca = RunCA.create(tmp_path / "run-ca")
    leaf = ca.issue(["idp.test"], "proxy")
    with ProxyServerThread(seed=5, native=native) as server:
        client = ToxiproxyClient(server.api_url)
        created = client.create_proxy("idp", f"{LOOPBACK}:{upstream.port}",
                                      listen_tls={"cert": str(leaf.cert), "key": str(leaf.key)},
                                      upstream_tls={"server_name": "idp.test"})  # system store: not the test CA
        route = Route(LOOPBACK, int(created["listen"].rsplit(":", 1)[1]), str(ca.cert_path))
        with make_session(origins=OriginMap({("https", "idp.test", upstream.port): route})) as session:
            response = session.get(f"https://idp.test:{upstream.port}/token", timeout=5)
        assert response.status_code == 502 and classify_response(response) == "tls_error"
        assert response.json()["error"] == "upstream_tls_error"


def _metric(client: ToxiproxyClient, name: str) -> int:
    found = re.search(rf'harness_proxy_{name}\{{proxy="idp"\}} (\d+)', client.metrics())
    assert found, f"no {name} for the proxy in /metrics"
    return int(found.group(1))


def _exchange(sock: ssl.SSLSocket, path: str) -> bytes:
    """One keep-alive GET on an open TLS connection, its whole response."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: idp.test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection ended after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return head.split(b"\r\n", 1)[0] + b" " + body


def _settle(check: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(check())


def test_a_tls_connection_no_toxic_touches_is_relayed_natively_and_comes_back_for_one(
    upstream: TlsUpstream, tmp_path: Path
) -> None:
    """With the sessions in the relay, a keep-alive TLS connection goes native once both handshakes are
    done; a toxic takes the same connection back to Python (its answers change, the TLS connection does not),
    and when the toxic goes, the idle connection goes native again. The counts stay whole throughout."""
    if not relay.TLS:
        pytest.fail("the relay has no TLS (tests/unit/proxy/test_native_tls.py says why)")
    ca = RunCA.create(tmp_path / "run-ca")
    leaf = ca.issue(["idp.test"], "proxy")
    with ProxyServerThread(seed=5) as server:
        client = ToxiproxyClient(server.api_url)
        created = client.create_proxy("idp", f"{LOOPBACK}:{upstream.port}",
                                      listen_tls={"cert": str(leaf.cert), "key": str(leaf.key)},
                                      upstream_tls={"server_name": "idp.test", "ca": upstream.ca_file})
        port = int(created["listen"].rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=str(ca.cert_path))
        with context.wrap_socket(socket.create_connection((LOOPBACK, port), timeout=5),
                                 server_hostname="idp.test") as sock:  # fmt: skip
            assert _exchange(sock, "/a") == b"HTTP/1.1 200 OK ok"
            assert _settle(lambda: _metric(client, "connections_native") == 1)
            assert _metric(client, "native_handovers_total") == 1
            client.add_toxic("idp", "http_error", stream="upstream", attributes={"path": "/token", "status": 503})
            assert _exchange(sock, "/b") == b"HTTP/1.1 200 OK ok"  # sifted natively: not a /token request
            assert _exchange(sock, "/token").startswith(b"HTTP/1.1 503")  # taken back: Python answers it
            assert _metric(client, "connections_native") == 0
            client.reset()  # the toxic goes; the connection is idle, so it goes native again
            assert _settle(lambda: _metric(client, "connections_native") == 1)
            assert _exchange(sock, "/token") == b"HTTP/1.1 200 OK ok"
            assert _metric(client, "native_handovers_total") == 2
        assert _settle(lambda: _metric(client, "connections_active") == 0)
        assert _metric(client, "requests_total") == 4
        client.close()


def test_a_client_that_never_finishes_its_handshake_is_no_connection(proxy, upstream: TlsUpstream) -> None:
    """Until a client's TLS handshake is done it is nobody's connection: not counted, nothing opened
    upstream (a port scan or a TCP health check costs the provider nothing); then a real client counts."""
    client, session, base = proxy
    port = int(client.get_proxy("idp")["listen"].rsplit(":", 1)[1])
    upstream.seen.clear()
    with socket.create_connection((LOOPBACK, port), timeout=5) as silent:
        silent.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and no more
        time.sleep(0.3)
        assert _metric(client, "connections_total") == 0
        assert session.get(f"{base}/token", timeout=5).status_code == 200
        assert _metric(client, "connections_total") == 1
    assert len(upstream.seen) == 1


def test_a_client_that_does_not_trust_the_proxy_gets_a_tls_error(proxy, upstream: TlsUpstream) -> None:
    client, _session, base = proxy
    listen_port = int(client.get_proxy("idp")["listen"].rsplit(":", 1)[1])
    routes = {("https", "idp.test", upstream.port): Route(LOOPBACK, listen_port)}  # the system store
    with make_session(origins=OriginMap(routes)) as session, pytest.raises(requests.exceptions.SSLError) as caught:
        session.get(f"{base}/token", timeout=5)  # the run CA is not in the system store
    assert classify_exception(caught.value) == "tls_error"


def test_config_file_tls_proxy_driven_by_a_client_that_knows_nothing_of_tls(
    upstream: TlsUpstream, tmp_path: Path
) -> None:
    """`harness proxy --config` creates a proxy with TLS on both hops; toxiproxy-python, which knows only
    Toxiproxy's fields, lists it, puts a toxic on it, takes it down and up, and the TLS stays."""
    toxiproxy = pytest.importorskip("toxiproxy")
    ca = RunCA.create(tmp_path / "run-ca")
    leaf = ca.issue(["idp.test"], "proxy")
    listen_port = free_port()
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{
        "name": "idp", "listen": f"{LOOPBACK}:{listen_port}", "upstream": f"{LOOPBACK}:{upstream.port}",
        "listen_tls": {"cert": str(leaf.cert), "key": str(leaf.key)},
        "upstream_tls": {"server_name": "idp.test", "ca": upstream.ca_file},
    }]))
    api_port = free_port()
    argv = harness_argv("proxy", "--port", str(api_port), "--config", str(config))
    with running_process(argv, log_dir=tmp_path / "logs", name="proxy",
                         ready_url=f"http://{LOOPBACK}:{api_port}/version"):
        server = toxiproxy.Toxiproxy()
        server.update_api_consumer(LOOPBACK, api_port)
        proxy = server.get_proxy("idp")
        assert proxy is not None and proxy.upstream == f"{LOOPBACK}:{upstream.port}"
        route = Route(LOOPBACK, listen_port, str(ca.cert_path))
        base = f"https://idp.test:{upstream.port}"
        with make_session(origins=OriginMap({("https", "idp.test", upstream.port): route})) as session:
            assert session.get(f"{base}/token", timeout=5).status_code == 200
            proxy.add_toxic(type="http_error", stream="upstream", attributes={"path": "/token", "status": 429})
            assert session.get(f"{base}/token", timeout=5).status_code == 429
            proxy.destroy_toxic("http_error_upstream")
            with proxy.down(), pytest.raises(requests.ConnectionError):
                session.get(f"{base}/token", timeout=5)
            assert session.get(f"{base}/token", timeout=5).status_code == 200
        shown = requests.get(f"http://{LOOPBACK}:{api_port}/proxies/idp", timeout=5).json()
        assert shown["upstream_tls"] == {"server_name": "idp.test", "ca": upstream.ca_file}


def test_every_proxy_of_the_config_file_is_listed_once_the_api_answers(
    upstream: TlsUpstream, tmp_path: Path
) -> None:
    """A client that waits for /version (as toxiproxy-python and our own run do) finds every proxy of
    `--config` already there: toxiproxy-server creates them before it listens, and so do we. Forty
    proxies that each load a CA bundle make the window wide enough to see if the order ever slips."""
    config = tmp_path / "proxies.json"
    names = [f"idp{i}" for i in range(40)]
    config.write_text(json.dumps([
        {"name": name, "listen": f"{LOOPBACK}:0", "upstream": f"{LOOPBACK}:{upstream.port}",
         "upstream_tls": {"server_name": "idp.test", "ca": upstream.ca_file}}
        for name in names
    ]))
    api_port = free_port()
    argv = harness_argv("proxy", "--port", str(api_port), "--config", str(config))
    with running_process(argv, log_dir=tmp_path / "logs", name="proxy",
                         ready_url=f"http://{LOOPBACK}:{api_port}/version"):
        listed = requests.get(f"http://{LOOPBACK}:{api_port}/proxies", timeout=5).json()
        assert sorted(listed) == sorted(names)


def test_config_file_with_a_missing_certificate_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "idp", "upstream": f"{LOOPBACK}:1",
                                   "listen_tls": {"cert": str(tmp_path / "none.pem"), "key": "k"}}]))
    result = subprocess.run(harness_argv("proxy", "--port", str(free_port()), "--config", str(config)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "listen_tls.cert: no such file" in result.stderr
