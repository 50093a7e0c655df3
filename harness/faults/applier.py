"""FaultApplier: puts one scenario fault on through its channel and takes it off again. The timeline
(harness.load.timeline) calls it; which channel a fault goes to is the fault model's own `channel`.

A run may have several proxies, one per origin of an external provider (the origin map): a fault aimed at
an endpoint (`endpoint: token`) goes to the proxy of the origin that endpoint is on, with the path the
provider gave for it; any other proxy fault goes to every proxy of the run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from harness.contract import ChaosRequest, Runtime
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

    def update_proxy(self, name: str, **fields: Any) -> Any: ...


class TargetChannel(Protocol):
    def send(self, request: ChaosRequest) -> Any: ...


class HostChannel(Protocol):
    def apply(self, fault: FaultModel, name: str) -> Any: ...

    def remove(self, name: str) -> Any: ...


@dataclass
class FaultApplier:
    """Applies scenario faults (toxics on one proxy, target chaos calls, host changes) and removes them."""

    api: ProxyApi | None
    proxy: str  # the main proxy (the issuer's origin)
    paths: Mapping[str, str] = field(default_factory=lambda: dict(EMBEDDED_PATHS))
    host: HostChannel | None = field(default_factory=ChaosChannel.from_env)
    target: TargetChannel | None = field(default_factory=TargetChaos.from_env)
    proxies: tuple[str, ...] = ()  # every proxy of the run; () is just `proxy`
    endpoint_proxies: Mapping[str, str] = field(default_factory=dict)  # endpoint -> its origin's proxy
    _on_host: set[str] = field(default_factory=set)
    _on_target: dict[str, ChaosRequest | None] = field(default_factory=dict)  # name -> its undo request
    # name -> (the proxies it is on, the fields that switch them back; None: a toxic named `name`)
    _on_proxy: dict[str, tuple[list[str], dict[str, Any] | None]] = field(default_factory=dict)

    def apply(self, fault: FaultModel, name: str) -> None:
        if isinstance(fault, ProxyFault):
            self._apply_on_proxies(fault, name)
        elif isinstance(fault, TargetFault):
            if self.target is None:
                raise RuntimeError(f"{fault.type} needs `harness run` with the embedded target (no chaos API here)")
            on, off = fault.chaos_requests()
            self.target.send(on)
            self._on_target[name] = off
        elif fault.channel in ("process", "network", "command", "plugin"):  # the orchestrator applies them
            if self.host is None:
                raise RuntimeError(f"{fault.type} needs `harness run` (no chaos control channel here)")
            self.host.apply(fault, name)
            self._on_host.add(name)
        else:
            raise RuntimeError(f"{fault.type}: no applier for the {fault.channel} channel")

    @classmethod
    def for_runtime(cls, api: ProxyApi, runtime: Runtime) -> FaultApplier:
        """The applier of a run's timeline: its proxies, and for an external provider the paths and
        origins discovery gave its endpoints (`endpoint: token` is the provider's token path)."""
        assert runtime.proxy_name is not None
        applier = cls(api, runtime.proxy_name, proxies=runtime.proxy_names(),
                      target=TargetChaos.from_env(ca_file=runtime.ca_file))  # fmt: skip
        if runtime.endpoints:
            applier.paths = {name: urlsplit(url).path or "/" for name, url in runtime.endpoints.items()}
            applier.endpoint_proxies = {name: o.proxy_name for o in runtime.origins if o.proxy_name
                                        for name in o.endpoints}  # fmt: skip
        return applier

    def proxies_for(self, fault: ProxyFault) -> list[str]:
        """The proxies a fault goes to: its endpoint's origin's, or every one."""
        endpoint = fault.aimed_at()
        if endpoint is None or not self.endpoint_proxies:
            return list(self.proxies or (self.proxy,)) if endpoint is None else [self.proxy]
        if endpoint not in self.endpoint_proxies:
            raise RuntimeError(f"{fault.type}: the provider has no {endpoint} endpoint on a proxied origin (not in its "
                               "discovery document, or on a host outside allow)")  # fmt: skip
        return [self.endpoint_proxies[endpoint]]

    def _apply_on_proxies(self, fault: ProxyFault, name: str) -> None:
        if self.api is None:
            raise RuntimeError(f"{fault.type} needs a fault proxy (proxy.kind is none)")
        targets = self.proxies_for(fault)
        done: list[str] = []
        switch = fault.proxy_switch()
        self._on_proxy[name] = (done, switch[1] if switch is not None else None)  # undone even if half done
        if switch is not None:
            for proxy in targets:
                self.api.update_proxy(proxy, **switch[0])
                done.append(proxy)
            return
        spec = fault.toxic(name, self.paths)
        for proxy in targets:
            self.api.add_toxic(proxy, spec["type"], spec["attributes"], name=spec["name"],
                               stream=spec["stream"], toxicity=spec["toxicity"])  # fmt: skip
            done.append(proxy)

    def remove(self, name: str) -> None:
        if name in self._on_proxy:
            assert self.api is not None
            on, switch_back = self._on_proxy.pop(name)
            for proxy in on:
                if switch_back is not None:
                    self.api.update_proxy(proxy, **switch_back)
                else:
                    self.api.remove_toxic(proxy, name)
        elif name in self._on_host:
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
