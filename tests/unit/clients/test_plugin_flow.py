"""A plugin's flow (a Flow subclass of a package of its own): its calls to its own application through
`call_url` are recorded per attempt and retried by the scenario's policy like ours; a URL off loopback and
the allowed hosts is refused before anything is sent, and the journey fails."""

from __future__ import annotations

from typing import ClassVar

from harness.clients.flows import ClientCredentials, Flow, FlowContext
from harness.clients.provider import Provider
from tests.unit.clients.test_caller import DISCOVERY, make_caller


class Cart(Flow):
    name: ClassVar[str] = "acme_cart"
    url: ClassVar[str] = "http://127.0.0.1:8080/cart"

    def steps(self) -> None:
        self.call_url("cart", "GET", self.url, endpoint="cart_api", headers={"Authorization": "Bearer t0ken"})


def test_call_url_is_recorded_and_retried_like_the_providers_endpoints() -> None:
    caller, sink, _, sent = make_caller([DISCOVERY, 503, 200])
    flow = Cart(FlowContext(caller, Provider.embedded("http://idp"), ClientCredentials("cid", "secret")))
    assert flow.run()
    app = [a for a in sink.attempts if a["endpoint"] != "discovery"]  # the journey discovers the provider first
    assert [(a["flow"], a["step"], a["endpoint"], a["outcome"]) for a in app] == [
        ("acme_cart", "cart", "cart_api", "http_5xx"), ("acme_cart", "cart", "cart_api", "ok")]  # fmt: skip
    assert [r.url for r in sent[1:]] == [Cart.url, Cart.url]
    assert "t0ken" not in repr(sink.attempts) + repr(sink.operations)


class Elsewhere(Cart):
    url: ClassVar[str] = "http://shop.example.com/cart"


def test_a_url_not_allowed_is_never_sent_and_fails_the_journey() -> None:
    caller, sink, _, sent = make_caller([DISCOVERY, 200])
    flow = Elsewhere(FlowContext(caller, Provider.embedded("http://idp"), ClientCredentials("cid", "secret")))
    assert not flow.run()
    assert [r.url for r in sent] == ["http://idp/.well-known/openid-configuration"]  # the cart: never sent
    assert [a["endpoint"] for a in sink.attempts] == ["discovery"]
