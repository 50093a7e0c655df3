"""Fault type -> toxic spec registry, and the applier that talks to the proxy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.scenario.endpoints import EMBEDDED_PATHS

ToxicSpec = dict[str, Any]
Builder = Callable[[Any, str, Mapping[str, str]], ToxicSpec]

FAULT_TYPES: dict[str, Builder] = {}


def register(type_name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        FAULT_TYPES[type_name] = fn
        return fn

    return deco


def http_match(fault: Any, paths: Mapping[str, str]) -> dict[str, Any]:
    """The request-matching attributes shared by every HTTP-aware toxic."""
    if fault.endpoint is not None:
        path, match = paths[fault.endpoint], "exact"
    else:
        path, match = fault.path or "/", fault.match if fault.path else "prefix"
    return {"method": fault.method or "", "path": path, "match": match}


def toxic_spec(fault: Any, toxic_name: str, paths: Mapping[str, str] = EMBEDDED_PATHS) -> ToxicSpec:
    # Import the modules for their registration side effect here, not at package import.
    from harness.faults import http_error, latency  # noqa: F401

    try:
        builder = FAULT_TYPES[fault.type]
    except KeyError:
        raise ValueError(f"unknown fault type {fault.type!r} (known: {', '.join(sorted(FAULT_TYPES))})") from None
    return builder(fault, toxic_name, paths)


class ProxyApi(Protocol):
    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        stream: str | None = None,
        toxicity: float = 1.0,
    ) -> Any: ...

    def remove_toxic(self, proxy: str, toxic: str) -> Any: ...


@dataclass
class FaultApplier:
    """Applies scenario faults as toxics on one proxy and removes them again."""

    api: ProxyApi
    proxy: str
    paths: Mapping[str, str] = field(default_factory=lambda: dict(EMBEDDED_PATHS))

    def apply(self, fault: Any, toxic_name: str) -> ToxicSpec:
        spec = toxic_spec(fault, toxic_name, self.paths)
        self.api.add_toxic(
            self.proxy,
            spec["type"],
            spec["attributes"],
            name=spec["name"],
            stream=spec["stream"],
            toxicity=spec["toxicity"],
        )
        return spec

    def remove(self, toxic_name: str) -> None:
        self.api.remove_toxic(self.proxy, toxic_name)
