"""FaultApplier: puts one scenario fault on through its channel and takes it off again. The timeline
(harness.load.timeline) calls it; which channel a fault goes to is the fault model's own `channel`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.contract import ChaosRequest
from harness.endpoints import EMBEDDED_PATHS
from harness.faults.base import FaultModel, ProxyFault, TargetFault
from harness.faults.channels import ChaosChannel, TargetChaos


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
    def send(self, request: ChaosRequest) -> Any: ...


class HostChannel(Protocol):
    def apply(self, fault: FaultModel, name: str) -> Any: ...

    def remove(self, name: str) -> Any: ...


@dataclass
class FaultApplier:
    """Applies scenario faults (toxics on one proxy, target chaos calls, host changes) and removes them."""

    api: ProxyApi | None
    proxy: str
    paths: Mapping[str, str] = field(default_factory=lambda: dict(EMBEDDED_PATHS))
    host: HostChannel | None = field(default_factory=ChaosChannel.from_env)
    target: TargetChannel | None = field(default_factory=TargetChaos.from_env)
    _on_host: set[str] = field(default_factory=set)
    _on_target: dict[str, ChaosRequest | None] = field(default_factory=dict)  # name -> its undo request

    def apply(self, fault: FaultModel, name: str) -> None:
        if isinstance(fault, ProxyFault):
            if self.api is None:
                raise RuntimeError(f"{fault.type} needs a fault proxy (proxy.kind is none)")
            spec = fault.toxic(name, self.paths)
            self.api.add_toxic(self.proxy, spec["type"], spec["attributes"], name=spec["name"],
                               stream=spec["stream"], toxicity=spec["toxicity"])  # fmt: skip
        elif isinstance(fault, TargetFault):
            if self.target is None:
                raise RuntimeError(f"{fault.type} needs `harness run` with the embedded target (no chaos API here)")
            on, off = fault.chaos_requests()
            self.target.send(on)
            self._on_target[name] = off
        elif fault.channel in ("process", "network", "plugin"):  # the orchestrator applies them
            if self.host is None:
                raise RuntimeError(f"{fault.type} needs `harness run` (no chaos control channel here)")
            self.host.apply(fault, name)
            self._on_host.add(name)
        else:
            raise RuntimeError(f"{fault.type}: no applier for the {fault.channel} channel")

    def remove(self, name: str) -> None:
        if name in self._on_host:
            assert self.host is not None
            self.host.remove(name)
            self._on_host.discard(name)
        elif name in self._on_target:
            undo = self._on_target.pop(name)
            if undo is not None:
                assert self.target is not None
                self.target.send(undo)
        elif self.api is not None:
            self.api.remove_toxic(self.proxy, name)
