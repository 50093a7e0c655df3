"""FaultApplier over several proxies (one per origin of a provider): an endpoint's fault goes to its
origin's proxy with the provider's path, others to every proxy; `down` switches proxies off and back."""

from __future__ import annotations

from typing import Any

import pytest

from harness.contract import OriginRoute, Runtime
from harness.faults import FAULT_ADAPTER, FaultApplier


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def add_toxic(self, proxy: str, type: str, attributes: dict[str, Any] | None = None, **kw: Any) -> None:
        self.calls.append(("add", proxy, type, (attributes or {}).get("path")))

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self.calls.append(("remove", proxy, toxic))

    def update_proxy(self, name: str, **fields: Any) -> None:
        self.calls.append(("update", name, fields))


def runtime() -> Runtime:
    idp = OriginRoute(origin="https://kc.example.com:443", upstream="10.0.0.5:443", listen="127.0.0.1:4001",
                      proxy_name="sso", tls=True, endpoints=("discovery", "token"))
    keys = OriginRoute(origin="https://keys.example.com:443", upstream="keys.example.com:443",
                       listen="127.0.0.1:4002", proxy_name="sso-2", tls=True, endpoints=("jwks",))
    return Runtime(run_dir="/r", scenario_file="/r/s.yaml", base_url="https://kc.example.com", target_url="x",
                   proxy_api="http://127.0.0.1:8474", proxy_name="sso", client_id="c", origins=(idp, keys),
                   endpoints={"discovery": "https://kc.example.com/realms/x/.well-known/openid-configuration",
                              "token": "https://kc.example.com/realms/x/protocol/openid-connect/token",
                              "jwks": "https://keys.example.com/certs"})  # fmt: skip


def applier(api: FakeApi) -> FaultApplier:
    applied = FaultApplier.for_runtime(api, runtime())
    applied.host = None
    return applied


def test_an_endpoint_fault_goes_to_its_origins_proxy_with_the_providers_path() -> None:
    api = FakeApi()
    a = applier(api)
    a.apply(FAULT_ADAPTER.validate_python({"type": "http_error", "endpoint": "token"}), "t1")
    a.apply(FAULT_ADAPTER.validate_python({"type": "latency", "endpoint": "jwks", "latency_ms": 300}), "t2")
    assert api.calls == [("add", "sso", "http_error", "/realms/x/protocol/openid-connect/token"),
                         ("add", "sso-2", "http_latency", "/certs")]  # fmt: skip
    a.remove("t1")
    assert api.calls[-1] == ("remove", "sso", "t1")


def test_a_fault_on_no_endpoint_goes_to_every_proxy_and_comes_off_every_one() -> None:
    api = FakeApi()
    a = applier(api)
    a.apply(FAULT_ADAPTER.validate_python({"type": "reset_peer"}), "t3")
    a.remove("t3")
    assert api.calls == [("add", "sso", "reset_peer", None), ("add", "sso-2", "reset_peer", None),
                         ("remove", "sso", "t3"), ("remove", "sso-2", "t3")]  # fmt: skip


def test_down_switches_the_proxies_off_and_back_on() -> None:
    api = FakeApi()
    a = applier(api)
    a.apply(FAULT_ADAPTER.validate_python({"type": "down", "endpoint": "jwks"}), "d1")
    a.remove("d1")
    assert api.calls == [("update", "sso-2", {"enabled": False}), ("update", "sso-2", {"enabled": True})]


def test_an_endpoint_the_provider_does_not_have_is_refused_by_name() -> None:
    a = applier(FakeApi())
    with pytest.raises(RuntimeError, match="no userinfo endpoint"):
        a.apply(FAULT_ADAPTER.validate_python({"type": "http_error", "endpoint": "userinfo"}), "t4")


def test_the_embedded_target_has_one_proxy_and_its_own_paths() -> None:
    api = FakeApi()
    a = FaultApplier(api, "sso", host=None, target=None)
    a.apply(FAULT_ADAPTER.validate_python({"type": "http_error", "endpoint": "token"}), "t5")
    a.apply(FAULT_ADAPTER.validate_python({"type": "down"}), "t6")
    assert api.calls == [("add", "sso", "http_error", "/token"), ("update", "sso", {"enabled": False})]
