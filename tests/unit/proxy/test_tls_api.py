"""TLS fields of a proxy in the control API: optional, echoed only when set, checked before anything
listens. No sockets: the binder is fake and remembers the TLS context it was given (certificate files
come from a trustme CA in tmp_path)."""

from __future__ import annotations

import itertools
import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest
import trustme

with warnings.catch_warnings():  # starlette 1.x would rather have httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from harness.proxy import relay
from harness.proxy.api import build_app
from harness.proxy.collection import ProxyCollection, Settings
from harness.proxy.connection import ClientProtocol, TlsAcceptProtocol
from tests.unit.proxy.test_api import FakeListener


class Api:
    """The API over fake listeners, and the TLS context each listener was bound with."""

    def __init__(self) -> None:
        self.contexts: list[ssl.SSLContext | None] = []
        self.factories: list[Any] = []
        ports = itertools.count(42000)

        async def binder(factory: Any, host: str, port: int, tls: ssl.SSLContext | None = None) -> Any:
            self.contexts.append(tls)
            self.factories.append(factory)
            return FakeListener(), port or next(ports)

        self.client = TestClient(build_app(ProxyCollection(Settings(seed=1, binder=binder))))
        self.get, self.post = self.client.get, self.client.post


@pytest.fixture
def api() -> Api:
    return Api()


def _create(api: Api, name: str = "sso", **extra: Any) -> Any:
    return api.post("/proxies", json={"name": name, "upstream": "127.0.0.1:9000", **extra})


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    leaf = ca.issue_cert("idp.test")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "leaf.pem", "key": tmp_path / "leaf-key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    leaf.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    return {k: str(v) for k, v in paths.items()}


def test_a_plain_proxy_shows_toxiproxys_json_only(api: Api) -> None:
    proxy = _create(api).json()
    assert set(proxy) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert api.contexts == [None]


def test_both_hops_are_echoed_and_the_handshakes_have_a_context(api: Api, certs) -> None:
    r = _create(api, listen_tls={"cert": certs["cert"], "key": certs["key"]},
                upstream_tls={"server_name": "idp.test", "ca": certs["ca"]})
    assert r.status_code == 201, r.json()
    assert r.json()["listen_tls"] == {"cert": certs["cert"], "key": certs["key"]}
    assert r.json()["upstream_tls"] == {"server_name": "idp.test", "ca": certs["ca"]}
    (context,) = api.contexts
    if relay.TLS:  # the relay does the handshakes: a plain listener hands it each socket before a byte is read
        assert context is None
        assert isinstance(api.factories[0](), TlsAcceptProtocol)
    else:
        assert isinstance(context, ssl.SSLContext)


def test_tls_on_one_hop_only_is_done_by_the_event_loop(api: Api, certs) -> None:
    r = _create(api, listen_tls={"cert": certs["cert"], "key": certs["key"]})
    assert r.status_code == 201, r.json()
    (context,) = api.contexts
    assert isinstance(context, ssl.SSLContext)
    assert isinstance(api.factories[0](), ClientProtocol)


def test_upstream_tls_defaults_to_the_upstream_host_and_the_system_store(api: Api) -> None:
    r = api.post("/proxies", json={"name": "up", "upstream": "idp.example.com:443", "upstream_tls": {}})
    assert r.status_code == 201
    assert r.json()["upstream_tls"] == {"server_name": "idp.example.com"}
    assert api.contexts == [None]  # the listener is plain


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("listen_tls", {"cert": "/nonexistent.pem", "key": "/nonexistent.pem"}, "listen_tls.cert: no such file"),
        ("listen_tls", {"cert": "CERT"}, "missing required field: listen_tls.key"),
        ("listen_tls", "yes", "listen_tls must be a JSON object"),
        ("upstream_tls", {"verify": False}, "upstream_tls: unknown field verify"),  # verification is never off
        ("upstream_tls", {"ca": "/nonexistent.pem"}, "upstream_tls.ca: no such file"),
    ],
)
def test_bad_tls_fields_are_400_and_nothing_listens(api: Api, certs, field, value, error) -> None:
    value = {k: certs["cert"] if v == "CERT" else v for k, v in value.items()} if isinstance(value, dict) else value
    r = _create(api, **{field: value})
    assert r.status_code == 400 and error in r.json()["error"], r.json()
    assert api.contexts == [] and api.get("/proxies").json() == {}


def test_a_key_that_does_not_match_is_400(api: Api, certs, tmp_path: Path) -> None:
    other = tmp_path / "other-key.pem"
    trustme.CA().issue_cert("x.test").private_key_pem.write_to_path(str(other))
    r = _create(api, listen_tls={"cert": certs["cert"], "key": str(other)})
    assert r.status_code == 400 and "listen_tls: cannot use" in r.json()["error"]


def test_changing_tls_restarts_the_listener_and_populate_keeps_an_equal_one(api: Api, certs) -> None:
    _create(api)
    listen_tls = {"cert": certs["cert"], "key": certs["key"]}
    r = api.post("/proxies/sso", json={"listen_tls": listen_tls})
    assert r.status_code == 200 and r.json()["listen_tls"] == listen_tls
    assert api.contexts[0] is None and isinstance(api.contexts[1], ssl.SSLContext)
    api.post("/proxies/sso/toxics", json={"type": "latency"})
    body = [{"name": "sso", "upstream": "127.0.0.1:9000", "listen": r.json()["listen"], "listen_tls": listen_tls}]
    kept = api.post("/populate", json=body).json()["proxies"][0]
    assert kept["toxics"] and len(api.contexts) == 2  # the same proxy, toxics included, not restarted
    body[0].pop("listen_tls")
    replaced = api.post("/populate", json=body).json()["proxies"][0]
    assert replaced["toxics"] == [] and "listen_tls" not in replaced


class FakeTransport:
    aborted = False

    def abort(self) -> None:
        self.aborted = True


def test_a_connection_its_closed_listener_accepted_is_cut_when_made(api: Api) -> None:
    """A TLS handshake still under way when the proxy went down (`down`) ends in connection_made after
    the listener closed: that connection must not proxy through the outage, nor after a restart."""
    _create(api)
    old_listener = api.factories[0]
    api.post("/proxies/sso", json={"enabled": False})
    api.post("/proxies/sso", json={"enabled": True})
    transport = FakeTransport()
    protocol = old_listener()
    protocol.connection_made(transport)
    assert transport.aborted and protocol.link is None
    protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")  # whatever still arrives goes nowhere
    protocol.eof_received()
    protocol.connection_lost(None)
