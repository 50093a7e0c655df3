"""The control API's JSON shapes and status codes, against Toxiproxy's. No sockets: listeners are fake."""

from __future__ import annotations

import itertools
import warnings

import pytest

with warnings.catch_warnings():  # starlette 1.x would rather have httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from harness.proxy.api import build_app
from harness.proxy.collection import ProxyCollection, Settings


class FakeListener:
    closed = False

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return None


@pytest.fixture
def api() -> TestClient:
    ports = itertools.count(41000)
    bound: list[int] = []

    async def binder(factory, host, port, tls=None):
        port = port or next(ports)
        bound.append(port)
        return FakeListener(), port

    client = TestClient(build_app(ProxyCollection(Settings(seed=1, binder=binder))))
    client.bound = bound
    return client


def _create(api: TestClient, name: str = "sso", **extra):
    return api.post("/proxies", json={"name": name, "upstream": "127.0.0.1:9000", **extra})


def test_create_reports_the_real_port_and_201(api: TestClient) -> None:
    r = _create(api, listen="127.0.0.1:0")
    assert r.status_code == 201
    assert r.json() == {
        "name": "sso",
        "listen": "127.0.0.1:41000",
        "upstream": "127.0.0.1:9000",
        "enabled": True,
        "toxics": [],
    }


def test_default_listen_is_loopback(api: TestClient) -> None:
    assert _create(api).json()["listen"].startswith("127.0.0.1:")


def test_duplicate_name_is_409_with_toxiproxy_error_body(api: TestClient) -> None:
    _create(api)
    r = _create(api)
    assert r.status_code == 409
    assert r.json() == {"error": "proxy already exists", "status": 409}


@pytest.mark.parametrize("listen", ["0.0.0.0:8001", "[::]:8001", "10.1.2.3:80", "example.com:80"])
def test_non_loopback_listen_is_refused(api: TestClient, listen: str) -> None:
    r = _create(api, listen=listen)
    assert r.status_code == 400
    assert "loopback" in r.json()["error"] and r.json()["status"] == 400


@pytest.mark.parametrize("listen", ["localhost:0", "[::1]:0", "127.0.0.2:0"])
def test_loopback_listen_is_accepted(api: TestClient, listen: str) -> None:
    assert _create(api, listen=listen).status_code == 201


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
    ],
)
def test_missing_fields(api: TestClient, body, text) -> None:
    r = api.post("/proxies", json=body)
    assert r.status_code == 400 and r.json()["error"] == text


def test_bad_json_is_400(api: TestClient) -> None:
    r = api.post("/proxies", content=b"{nope")
    assert r.status_code == 400 and r.json()["error"].startswith("bad request body")


def test_index_show_update_delete(api: TestClient) -> None:
    _create(api)
    assert list(api.get("/proxies").json()) == ["sso"]
    assert api.get("/proxies/sso").json()["name"] == "sso"
    assert api.get("/proxies/nope").status_code == 404
    assert api.get("/proxies/nope").json() == {"error": "proxy not found", "status": 404}
    r = api.patch("/proxies/sso", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    listen = r.json()["listen"]
    r = api.post("/proxies/sso", json={"enabled": True})
    assert r.json()["enabled"] is True and r.json()["listen"] == listen  # same port again
    assert api.delete("/proxies/sso").status_code == 204
    assert api.delete("/proxies/sso").status_code == 404


def test_toxic_defaults_and_shape(api: TestClient) -> None:
    _create(api)
    r = api.post("/proxies/sso/toxics", json={"type": "latency", "attributes": {"latency": 100}})
    assert r.status_code == 200
    assert r.json() == {
        "attributes": {"latency": 100, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    r = api.post("/proxies/sso/toxics", json={"type": "http_error", "attributes": {"path": "/token"}})
    assert r.json()["name"] == "http_error_upstream" and r.json()["stream"] == "upstream"
    toxics = api.get("/proxies/sso/toxics").json()
    assert [t["name"] for t in toxics] == ["http_error_upstream", "latency_downstream"]  # upstream first
    assert api.get("/proxies/sso").json()["toxics"] == toxics


def test_toxic_errors(api: TestClient) -> None:
    _create(api)
    r = api.post("/proxies/sso/toxics", json={"type": "nope"})
    assert r.status_code == 400 and "invalid toxic type" in r.json()["error"] and "latency" in r.json()["error"]
    r = api.post("/proxies/sso/toxics", json={"type": "latency", "stream": "sideways"})
    assert r.status_code == 400 and r.json()["error"].startswith("stream was invalid")
    r = api.post("/proxies/sso/toxics", json={"type": "http_error", "stream": "downstream"})
    assert r.status_code == 400 and "upstream" in r.json()["error"]
    r = api.post("/proxies/sso/toxics", json={"type": "latency", "attributes": {"latency": "slow"}})
    assert r.status_code == 400 and "latency" in r.json()["error"]
    r = api.post("/proxies/sso/toxics", json={"type": "latency", "toxicity": 2})
    assert r.status_code == 400
    api.post("/proxies/sso/toxics", json={"type": "latency"})
    r = api.post("/proxies/sso/toxics", json={"type": "latency"})
    assert r.status_code == 409 and r.json() == {"error": "toxic already exists", "status": 409}
    assert api.post("/proxies/nope/toxics", json={"type": "latency"}).status_code == 404
    r = api.get("/proxies/sso/toxics/nope")
    assert r.status_code == 404 and r.json() == {"error": "toxic not found", "status": 404}


def test_toxic_update_merges_and_delete(api: TestClient) -> None:
    _create(api)
    toxic = {"name": "slow", "type": "latency", "attributes": {"latency": 100, "jitter": 5}}
    api.post("/proxies/sso/toxics", json=toxic)
    r = api.patch("/proxies/sso/toxics/slow", json={"attributes": {"latency": 300}, "toxicity": 0.5})
    assert r.status_code == 200
    assert r.json()["attributes"] == {"latency": 300, "jitter": 5} and r.json()["toxicity"] == 0.5
    assert api.post("/proxies/sso/toxics/slow", json={"attributes": {"jitter": 0}}).json()["toxicity"] == 0.5
    assert api.delete("/proxies/sso/toxics/slow").status_code == 204
    assert api.delete("/proxies/sso/toxics/slow").status_code == 404


def test_reset_enables_and_clears(api: TestClient) -> None:
    _create(api)
    api.post("/proxies/sso/toxics", json={"type": "latency"})
    api.patch("/proxies/sso", json={"enabled": False})
    assert api.post("/reset").status_code == 204
    proxy = api.get("/proxies/sso").json()
    assert proxy["enabled"] is True and proxy["toxics"] == []


def test_populate_creates_and_keeps(api: TestClient) -> None:
    body = [{"name": "a", "upstream": "127.0.0.1:1"}, {"name": "b", "upstream": "127.0.0.1:2", "enabled": False}]
    r = api.post("/populate", json=body)
    assert r.status_code == 201
    assert [(p["name"], p["enabled"]) for p in r.json()["proxies"]] == [("a", True), ("b", False)]
    api.post("/proxies/a/toxics", json={"type": "latency"})
    listen = r.json()["proxies"][0]["listen"]
    r = api.post("/populate", json=[{"name": "a", "upstream": "127.0.0.1:1", "listen": listen}])
    assert r.json()["proxies"][0]["toxics"]  # unchanged proxy kept, toxics included
    r = api.post("/populate", json=[{"name": "c"}])
    assert r.status_code == 400 and r.json()["error"] == "missing required field: upstream at proxy 1"


def test_version_and_metrics(api: TestClient) -> None:
    assert "version" in api.get("/version").json()
    _create(api)
    api.post("/proxies/sso/toxics", json={"type": "http_error", "attributes": {"path": "/token"}})
    text = api.get("/metrics").text
    assert 'harness_proxy_connections_total{proxy="sso"} 0' in text
    assert (
        'harness_proxy_toxic_faults_injected_total{proxy="sso",toxic="http_error_upstream",'
        'type="http_error",stream="upstream"} 0'
    ) in text
    assert "# TYPE harness_proxy_bytes_total counter" in text


def test_browsers_are_refused(api: TestClient) -> None:
    r = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert r.status_code == 403
