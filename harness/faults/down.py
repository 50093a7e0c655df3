"""`down`: the proxy in front of the provider disabled for the phase (Toxiproxy's `enabled: false`): its
listener closed and every open connection cut, so clients get connection refused until the phase ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from harness.contract import ToxicSpec
from harness.endpoints import EndpointName
from harness.faults.base import ProxyFault


class DownFault(ProxyFault):
    """Take the proxy down; with `endpoint`, only the proxy of the origin that endpoint lives on."""

    type: Literal["down"]
    endpoint: EndpointName | None = None

    def proxy_switch(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"enabled": False}, {"enabled": True}

    def aimed_at(self) -> EndpointName | None:
        return self.endpoint

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        raise TypeError("down switches the proxy off; it adds no toxic")
