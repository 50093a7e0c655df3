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


def preset_attributes(fault: Any) -> dict[str, Any]:
    """The response preset of an answering fault; nothing for the default (older proxies need not know)."""
    if getattr(fault, "preset", None) in (None, "oauth"):
        return {}
    return {"preset": fault.preset, "aws_error": fault.aws_error or ""}


def tcp_toxic(fault: Any, toxic_name: str, type_name: str, attributes: dict[str, Any]) -> ToxicSpec:
    """A Toxiproxy TCP toxic on the fault's direction, for its share of connections."""
    return {
        "name": toxic_name,
        "type": type_name,
        "stream": fault.direction,
        "toxicity": fault.toxicity,
        "attributes": attributes,
    }


def host_spec(fault: Any, toxic_name: str) -> ToxicSpec:
    """A process or network fault: not a toxic, a change the orchestrator makes (harness.chaos), asked for
    through the control channel; the spec describes it for the plan and the journal."""
    attributes = fault.model_dump(mode="json", exclude_none=True, exclude={"type"})
    return {"name": toxic_name, "type": fault.type, "channel": "host", "attributes": attributes}


def target_spec(fault: Any, toxic_name: str, apply: dict[str, Any], remove: dict[str, Any] | None) -> ToxicSpec:
    """A fault the embedded target makes itself: the chaos API requests that switch it on and off (None:
    nothing to undo), sent by the timeline straight to the target (harness.faults._target_api)."""
    attributes = fault.model_dump(mode="json", exclude_none=True, exclude={"type"})
    return {"name": toxic_name, "type": fault.type, "channel": "target", "attributes": attributes,
            "apply": apply, "remove": remove}  # fmt: skip


def _load_builders() -> None:
    """Imports every module of harness.faults once, so each registers itself (not at package import)."""
    import importlib
    import pkgutil

    import harness.faults as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in ("registry",) and not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")


def toxic_spec(fault: Any, toxic_name: str, paths: Mapping[str, str] = EMBEDDED_PATHS) -> ToxicSpec:
    _load_builders()

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


class TargetChannel(Protocol):
    def send(self, request: Mapping[str, Any]) -> Any: ...


class HostChannel(Protocol):
    def apply(self, fault: Any, name: str) -> Any: ...

    def remove(self, name: str) -> Any: ...


def _host_channel_from_env() -> HostChannel | None:
    from harness.chaos.client import ChaosChannel

    return ChaosChannel.from_env()


def _target_channel_from_env() -> TargetChannel | None:
    from harness.faults._target_api import TargetChaos

    return TargetChaos.from_env()


@dataclass
class FaultApplier:
    """Applies scenario faults as toxics on one proxy and removes them again."""

    api: ProxyApi
    proxy: str
    paths: Mapping[str, str] = field(default_factory=lambda: dict(EMBEDDED_PATHS))

    host: HostChannel | None = field(default_factory=_host_channel_from_env)
    _on_host: set[str] = field(default_factory=set)
    target: TargetChannel | None = field(default_factory=_target_channel_from_env)
    _on_target: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # name -> its undo request

    def apply(self, fault: Any, toxic_name: str) -> ToxicSpec:
        spec = toxic_spec(fault, toxic_name, self.paths)
        if spec.get("channel") == "host":  # process and network faults: the orchestrator applies them
            if self.host is None:
                raise RuntimeError(f"{fault.type} needs `harness run` (no chaos control channel here)")
            self.host.apply(fault, toxic_name)
            self._on_host.add(toxic_name)
            return spec
        if spec.get("channel") == "target":  # the embedded target's chaos API
            if self.target is None:
                raise RuntimeError(f"{fault.type} needs `harness run` with the embedded target (no chaos API here)")
            self.target.send(spec["apply"])
            self._on_target[toxic_name] = spec["remove"]
            return spec
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
        if toxic_name in self._on_host:
            assert self.host is not None
            self.host.remove(toxic_name)
            self._on_host.discard(toxic_name)
            return
        if toxic_name in self._on_target:
            undo = self._on_target.pop(toxic_name)
            if undo is not None:
                assert self.target is not None
                self.target.send(undo)
            return
        self.api.remove_toxic(self.proxy, toxic_name)
