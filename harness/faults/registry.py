"""Every scenario fault type, registered once: the `harness.faults` entry points (ours in pyproject.toml,
a plugin's in its own package). The `Fault` type below is what a scenario's `faults:` validate against:
a discriminated union on `type`, built from the registry when a model first needs it, and every list of
fault types (by channel) is derived from the same registry.

Adding a fault type is one module in this package (its model, named `<type>.py`, with its channel and
what it asks that channel for) plus its entry point; tests/unit/faults/test_registry.py checks that
every module is registered under its own name. A plugin's fault is the same: a FaultModel subclass whose
`type` is its entry point's name (usually on the `plugin` channel, base.PluginFault).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import TypeAdapter

from harness import plugins
from harness.contract import ToxicSpec
from harness.endpoints import EMBEDDED_PATHS
from harness.faults.base import Channel, FaultModel, ProxyFault

_check = plugins.typed_model_check(
    FaultModel, "a fault model (a subclass of harness.faults.base.FaultModel, e.g. PluginFault)"
)


def fault_types() -> dict[str, type[FaultModel]]:
    """type -> model, every registered fault type (built-ins first); PluginError when one did not load."""
    loaded = plugins.registry().load("faults", _check)
    return {name: model for name, model in loaded.items()}


_Registered = plugins.registered_union(fault_types)


if TYPE_CHECKING:
    Fault = FaultModel
else:
    Fault = Annotated[FaultModel, _Registered]


class _Lazy(Mapping[str, type[FaultModel]]):
    """FAULT_TYPES: the registry's fault types as a mapping, read afresh on each use."""

    def __getitem__(self, key: str) -> type[FaultModel]:
        return fault_types()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(fault_types())

    def __len__(self) -> int:
        return len(fault_types())


FAULT_TYPES: Mapping[str, type[FaultModel]] = _Lazy()


class _Adapter:
    """FAULT_ADAPTER: validates one fault against the registered types (rebuilt when the registry is)."""

    _adapter: TypeAdapter[Any] | None = None

    def validate_python(self, data: Any) -> FaultModel:
        if self._adapter is None:
            self._adapter = TypeAdapter(Fault)
        fault: FaultModel = self._adapter.validate_python(data)
        return fault

    def reset(self) -> None:
        self._adapter = None


FAULT_ADAPTER = _Adapter()
plugins.on_reset(FAULT_ADAPTER.reset)


def fault_models() -> tuple[type[FaultModel], ...]:
    return tuple(fault_types().values())


def types_on(*channels: Channel) -> frozenset[str]:
    """The fault types applied through any of `channels`."""
    return frozenset(name for name, model in fault_types().items() if model.channel in channels)


def toxic_spec(fault: ProxyFault, toxic_name: str, paths: Mapping[str, str] = EMBEDDED_PATHS) -> ToxicSpec:
    """The toxic a proxy fault adds, with endpoint names resolved through `paths`."""
    return fault.toxic(toxic_name, paths)
