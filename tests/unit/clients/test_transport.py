"""The origin map in the clients' transport, without sockets: where a routed connection goes, and which CA
bundle its certificate is checked against."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from urllib3.util import connection as urllib3_connection

from harness.clients.transport import OriginMap, Route, RoutedAdapter, make_session, origin_of, origin_url


def test_origins_have_explicit_ports_and_lower_case_hosts() -> None:
    assert origin_of("https://IdP.Test/realms/x?y=1") == ("https", "idp.test", 443)
    assert origin_of("http://127.0.0.1:8080/token") == ("http", "127.0.0.1", 8080)
    assert origin_url(("https", "idp.test", 443)) == "https://idp.test:443"
    assert origin_url(("http", "::1", 80)) == "http://[::1]:80"


def test_a_routed_origin_connects_to_the_route_and_others_where_dns_says(monkeypatch: pytest.MonkeyPatch) -> None:
    dialled: list[tuple[str, int]] = []

    def fake_connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        dialled.append(address)
        raise OSError("no sockets in unit tests")

    monkeypatch.setattr(urllib3_connection, "create_connection", fake_connect)
    session = make_session(origins=OriginMap({("http", "idp.test", 80): Route("127.0.0.1", 47001)}))
    for url in ("http://idp.test/token", "http://other.test/token"):
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=1)
    assert dialled == [("127.0.0.1", 47001), ("other.test", 80)]


def test_a_route_names_the_ca_bundle_and_verification_stays_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def fake_send(self: Any, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["verify"])
        raise requests.ConnectionError("not sent")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_send)
    adapter = RoutedAdapter(OriginMap({("https", "idp.test", 443): Route("127.0.0.1", 47001, "/run/ca.pem"),
                                       ("https", "plain.test", 443): Route("127.0.0.1", 47002)}))
    session = requests.Session()
    session.trust_env = False  # no CA bundle from the environment: True is the default store
    session.mount("https://", adapter)
    for url in ("https://idp.test/a", "https://plain.test/a", "https://elsewhere.test/a"):
        with pytest.raises(requests.ConnectionError):
            session.get(url)
    assert seen == ["/run/ca.pem", True, True]


def test_resolve_and_a_ca_bundle_reach_origins_without_a_route() -> None:
    origins = OriginMap({("https", "idp.test", 443): Route("127.0.0.1", 47001, "/run/ca.pem")},
                        resolve={"idp.test": "10.0.0.5", "sso.test": "10.0.0.6"}, ca_bundle="/corp/ca.pem")
    assert origins.route(("https", "idp.test", 443)) == Route("127.0.0.1", 47001, "/run/ca.pem")  # the proxy
    assert origins.route(("https", "idp.test", 8443)) == Route("10.0.0.5", 8443, "/corp/ca.pem")
    assert origins.route(("https", "sso.test", 443)) == Route("10.0.0.6", 443, "/corp/ca.pem")
    assert origins.route(("https", "other.test", 443)) == Route("other.test", 443, "/corp/ca.pem")
    assert OriginMap().route(("https", "other.test", 443)) is None and not OriginMap()
