"""Toxiproxy's own API exchanges, replayed against ours. The pairs are data
(fixtures/toxiproxy_exchanges.json, re-encoded from Shopify/toxiproxy's api_test.go and README); this
file only plays them. No sockets: the binder is fake and remembers which addresses listen."""

from __future__ import annotations

import errno
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # starlette 1.x would rather have httpx2; httpx is what is installed
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from harness.proxy.api import VERSION, build_app
from harness.proxy.collection import ProxyCollection, Settings

EXCHANGES: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "toxiproxy_exchanges.json").read_text())
SCENARIOS = {name: value for name, value in EXCHANGES.items() if not name.startswith("_")}


class FakeListeners:
    """A binder that refuses a port already bound, like the kernel, and keeps who listens where."""

    def __init__(self) -> None:
        self.bound: set[str] = set()

    async def __call__(self, factory: object, host: str, port: int, tls: object = None) -> tuple[Any, int]:
        address = f"{host}:{port}"
        if address in self.bound:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        self.bound.add(address)
        bound = self.bound

        class Listener:
            def close(self) -> None:
                bound.discard(address)

            async def wait_closed(self) -> None:
                return None

        return Listener(), port


def _send(api: TestClient, step: dict[str, Any]) -> Any:
    method, path, body = step["request"]
    headers = {"User-Agent": "toxiproxy-cli", **step.get("headers", {})}
    if isinstance(body, str):  # a raw (malformed) body
        return api.request(method, path, content=body.encode(), headers=headers)
    if body is None:
        return api.request(method, path, headers=headers)
    return api.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recorded_exchange(name: str) -> None:
    listeners = FakeListeners()
    api = TestClient(build_app(ProxyCollection(Settings(seed=1, binder=listeners))))
    for number, step in enumerate(SCENARIOS[name]["steps"], 1):
        where = f"{name} step {number}: {step['request'][0]} {step['request'][1]}"
        response = _send(api, step)
        assert response.status_code == step["status"], f"{where}: {response.status_code} {response.text}"
        if step.get("empty"):
            assert response.content == b"", where
            continue
        if response.status_code == 403:
            continue  # Toxiproxy answers browsers with plain text
        got = response.json()
        if "body" in step:
            assert got == step["body"], where
        for key, value in step.get("body_has", {}).items():
            assert got[key] == value, f"{where}: {key}"
        if "error" in step:
            assert got == {"error": step["error"], "status": step["status"]}, where
        if "error_prefix" in step:
            assert got["status"] == step["status"] and got["error"].startswith(step["error_prefix"]), where
        if "keys" in step:
            assert sorted(got) == step["keys"], where
        if "length" in step:
            assert len(got) == step["length"], where
        if step.get("version"):
            assert got == {"version": VERSION}, where
        for address, listening in step.get("listening", {}).items():
            assert (address in listeners.bound) == listening, f"{where}: {address} listening?"


def test_every_toxiproxy_route_is_exercised() -> None:
    """The table of README 'Endpoints' (method, route): each has at least one recorded exchange."""
    routes = {
        ("GET", "/proxies"), ("POST", "/proxies"), ("POST", "/populate"), ("GET", "/proxies/{proxy}"),
        ("POST", "/proxies/{proxy}"), ("PATCH", "/proxies/{proxy}"), ("DELETE", "/proxies/{proxy}"),
        ("GET", "/proxies/{proxy}/toxics"), ("POST", "/proxies/{proxy}/toxics"),
        ("GET", "/proxies/{proxy}/toxics/{toxic}"), ("POST", "/proxies/{proxy}/toxics/{toxic}"),
        ("PATCH", "/proxies/{proxy}/toxics/{toxic}"), ("DELETE", "/proxies/{proxy}/toxics/{toxic}"),
        ("POST", "/reset"), ("GET", "/version"),
    }  # fmt: skip
    seen = set()
    for scenario in SCENARIOS.values():
        for step in scenario["steps"]:
            method, path, _ = step["request"]
            parts = path.split("/")
            if len(parts) >= 3 and parts[1] == "proxies":
                parts[2] = "{proxy}"
            if len(parts) >= 5:
                parts[4] = "{toxic}"
            seen.add((method, "/".join(parts)))
    assert routes - seen == set()
