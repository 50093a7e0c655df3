"""`python -m harness proxy` as a real process, in front of a real HTTP/1.1 keep-alive server."""

from __future__ import annotations

import itertools
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from harness.proxy.client import BadRequestError, NotFoundError, ToxiproxyClient
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process, stop_process, wait_http_ok

pytestmark = pytest.mark.integration
_names = itertools.count()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # One write per response, no Nagle: otherwise delayed ACKs cost 40 ms per request, with or without proxy.
    wbufsize = -1
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = f"ok {self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = harness_argv("proxy", "--port", str(port), "--seed", "42")
    with running_process(argv, log_dir=tmp_path_factory.mktemp("proxy-logs"), name="proxy", ready_url=f"{url}/version"):
        yield url


@pytest.fixture
def client(api_url: str) -> Iterator[ToxiproxyClient]:
    client = ToxiproxyClient(api_url)
    client.wait_ready(timeout_s=10)
    yield client
    for name in client.get_proxies():
        client.delete_proxy(name)
    client.close()


def _proxy(client: ToxiproxyClient, upstream: str) -> tuple[str, str]:
    """A new proxy on a free loopback port; its base URL."""
    proxy = client.create_proxy(f"sso{next(_names)}", upstream=upstream, listen="127.0.0.1:0")
    assert not proxy["listen"].endswith(":0")
    return proxy["name"], f"http://{proxy['listen']}"


def _counter(client: ToxiproxyClient, line_start: str) -> float:
    for line in client.metrics().splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {line_start}")


def test_pass_through(client: ToxiproxyClient, upstream: str) -> None:
    _, base = _proxy(client, upstream)
    r = requests.post(f"{base}/token", data=b"grant_type=client_credentials", timeout=5)
    assert r.status_code == 200 and r.text == "ok POST /token"


def test_http_error_on_token_only(client: ToxiproxyClient, upstream: str) -> None:
    name, base = _proxy(client, upstream)
    client.add_toxic(name, "http_error", {"path": "/token", "status": 503, "retry_after": 1}, stream="upstream")
    with requests.Session() as session:
        r = session.post(f"{base}/token?x=1", data=b"a=b", timeout=5)
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "1"
        assert r.headers["X-Harness-Fault"] == "http_error"
        assert r.json()["error_description"] == "injected by harness proxy"
        other = session.get(f"{base}/other", timeout=5)
        assert other.status_code == 200 and other.text == "ok GET /other"


def test_keep_alive_session_sees_toxic_added_and_removed_mid_session(client: ToxiproxyClient, upstream: str) -> None:
    name, base = _proxy(client, upstream)
    connections = f'harness_proxy_connections_total{{proxy="{name}"}}'
    with requests.Session() as session:
        assert session.post(f"{base}/token", data=b"x", timeout=5).status_code == 200
        toxic = client.add_toxic(name, "http_error", {"path": "/token", "status": 503})
        assert session.post(f"{base}/token", data=b"x", timeout=5).status_code == 503
        assert session.get(f"{base}/other", timeout=5).status_code == 200
        client.remove_toxic(name, toxic["name"])
        assert session.post(f"{base}/token", data=b"x", timeout=5).status_code == 200
    assert _counter(client, connections) == 1  # all of it on one keep-alive connection


def test_probability_over_many_requests(client: ToxiproxyClient, upstream: str) -> None:
    name, base = _proxy(client, upstream)
    client.add_toxic(name, "http_error", {"path": "/token", "status": 500, "probability": 0.3})
    with requests.Session() as session:
        statuses = [session.post(f"{base}/token", data=b"x", timeout=5).status_code for _ in range(400)]
    share = statuses.count(500) / len(statuses)
    assert set(statuses) == {200, 500}
    assert 0.3 - 0.07 <= share <= 0.3 + 0.07  # ± 3 standard deviations of a binomial(400, 0.3)
    injected = _counter(client, f'harness_proxy_toxic_faults_injected_total{{proxy="{name}"')
    assert injected == statuses.count(500)


def test_latency_adds_at_least_the_latency(client: ToxiproxyClient, upstream: str) -> None:
    name, base = _proxy(client, upstream)
    with requests.Session() as session:
        session.get(f"{base}/warm", timeout=5)
        client.add_toxic(name, "latency", {"latency": 200})
        started = time.perf_counter()
        assert session.get(f"{base}/slow", timeout=5).status_code == 200
        elapsed = time.perf_counter() - started
    assert 0.2 <= elapsed < 2.0


def test_http_latency_delays_matching_requests_only(client: ToxiproxyClient, upstream: str) -> None:
    name, base = _proxy(client, upstream)
    client.add_toxic(name, "http_latency", {"path": "/token", "latency": 300})
    with requests.Session() as session:
        started = time.perf_counter()
        session.get(f"{base}/other", timeout=5)
        fast = time.perf_counter() - started
        started = time.perf_counter()
        session.post(f"{base}/token", data=b"x", timeout=5)
        slow = time.perf_counter() - started
    assert slow >= 0.3 and fast < 0.3


def test_reset_removes_every_toxic(client: ToxiproxyClient, upstream: str) -> None:
    name, base = _proxy(client, upstream)
    client.add_toxic(name, "http_error", {"path": "/token"})
    client.add_toxic(name, "latency", {"latency": 50})
    client.disable(name)
    client.reset()
    proxy = client.get_proxy(name)
    assert proxy["toxics"] == [] and proxy["enabled"] is True
    assert requests.post(f"{base}/token", data=b"x", timeout=5).status_code == 200


def test_disabled_proxy_refuses_connections_and_comes_back_on_the_same_port(
    client: ToxiproxyClient, upstream: str
) -> None:
    name, base = _proxy(client, upstream)
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with requests.Session() as session:
        assert session.get(f"{base}/a", timeout=5).status_code == 200
        client.disable(name)
        with pytest.raises(requests.ConnectionError):
            session.get(f"{base}/a", timeout=5)  # the open connection was cut, and no new one is accepted
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), timeout=2):
        pass
    assert client.enable(name)["listen"] == f"{host}:{port}"
    assert requests.get(f"{base}/a", timeout=5).status_code == 200


def test_api_errors_carry_the_server_text(client: ToxiproxyClient, upstream: str) -> None:
    with pytest.raises(NotFoundError, match="proxy not found"):
        client.get_proxy("nope")
    with pytest.raises(BadRequestError, match="loopback"):
        client.create_proxy("wide", upstream=upstream, listen="0.0.0.0:0")
    name, _ = _proxy(client, upstream)
    with pytest.raises(BadRequestError, match="latency, "):
        client.add_toxic(name, "slow_close_typo")


def test_third_party_toxiproxy_python_client(api_url: str, upstream: str) -> None:
    toxiproxy = pytest.importorskip("toxiproxy")
    server = toxiproxy.Toxiproxy()
    host, port = api_url.removeprefix("http://").rsplit(":", 1)
    server.update_api_consumer(host, int(port))
    assert server.running()
    proxy = server.create(upstream=upstream, name="thirdparty", listen="127.0.0.1:0")
    try:
        base = f"http://{proxy.listen}"
        proxy.add_toxic(type="http_error", stream="upstream", attributes={"path": "/token", "status": 429})
        assert set(proxy.toxics()) == {"http_error_upstream"}
        assert requests.post(f"{base}/token", data=b"x", timeout=5).status_code == 429
        proxy.destroy_toxic("http_error_upstream")
        assert requests.post(f"{base}/token", data=b"x", timeout=5).status_code == 200
        with proxy.down(), pytest.raises(requests.ConnectionError):
            requests.get(f"{base}/a", timeout=5)
        assert requests.get(f"{base}/a", timeout=5).status_code == 200
        assert "thirdparty" in server.proxies()
    finally:
        server.destroy(proxy)
    assert server.get_proxy("thirdparty") is None


def test_sigterm_exits_zero(tmp_path: Path) -> None:
    port = free_port()
    with open(tmp_path / "err", "wb") as err:
        process = subprocess.Popen(harness_argv("proxy", "--port", str(port)), stderr=err)
        try:
            wait_http_ok(f"http://{LOOPBACK}:{port}/version", timeout_s=20, process=process)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            stop_process(process)


def _stats(api_url: str, proxy: str, toxic: str) -> int:
    return int(requests.get(f"{api_url}/proxies/{proxy}/toxics/{toxic}/stats", timeout=5).json()["faults_injected"])


def test_third_party_client_drives_every_toxic_it_can_express(api_url: str, upstream: str) -> None:
    """toxiproxy-python can add, list and remove any toxic type (it has no update call): each of ours,
    added through it, acts on traffic; populate, reset and version go through it too."""
    toxiproxy = pytest.importorskip("toxiproxy")
    server = toxiproxy.Toxiproxy()
    host, port = api_url.removeprefix("http://").rsplit(":", 1)
    server.update_api_consumer(host, int(port))
    assert server.version()
    (proxy,) = server.populate([{"name": "thirdparty2", "upstream": upstream, "listen": "127.0.0.1:0"}])
    base = f"http://{proxy.listen}"

    def status(path: str = "/token") -> int | str:
        try:
            return requests.post(f"{base}{path}", data=b"x", timeout=5).status_code
        except requests.RequestException:  # no answer, or a truncated one
            return "broken"

    try:
        cases: list[tuple[str, str, dict[str, object], Callable[[], bool]]] = [
            ("http_throttle", "upstream", {"path": "/token", "rate": 0.001, "burst": 1, "status": 429},
             lambda: [status(), status()] == [200, 429]),
            ("http_drop", "upstream", {"path": "/token"}, lambda: status() == "broken"),
            ("http_corrupt", "upstream", {"path": "/token", "mode": "truncate"},
             lambda: status() == "broken" and _stats(api_url, "thirdparty2", "http_corrupt_upstream") == 1),
            ("http_error", "upstream", {"preset": "aws", "status": 429, "path": "/token"}, lambda: status() == 429),
            ("limit_data", "downstream", {"bytes": 10}, lambda: status() == "broken"),
            ("reset_peer", "upstream", {"timeout": 0}, lambda: status() == "broken"),
            ("timeout", "downstream", {"timeout": 50}, lambda: status() == "broken"),
            ("noop", "downstream", {}, lambda: status() == 200),
        ]  # fmt: skip
        for type_name, stream, attributes, check in cases:
            proxy.add_toxic(type=type_name, stream=stream, attributes=attributes)
            name = f"{type_name}_{stream}"
            assert proxy.get_toxic(name).attributes.items() >= attributes.items()
            assert check(), (type_name, status())
            proxy.destroy_toxic(name)
            assert proxy.toxics() == {} and status() == 200, type_name
        started = time.perf_counter()
        proxy.add_toxic(type="http_latency", stream="upstream", attributes={"path": "/token", "latency": 200})
        assert status() == 200 and time.perf_counter() - started >= 0.2
        proxy.add_toxic(type="bandwidth", stream="downstream", attributes={"rate": 1})
        proxy.add_toxic(type="slicer", stream="downstream", attributes={"average_size": 4, "delay": 1})
        assert len(proxy.toxics()) == 3
        server.reset()
        assert proxy.toxics() == {} and status() == 200
    finally:
        server.destroy(proxy)
