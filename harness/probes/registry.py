"""Every probe type, registered as a `harness.probes` entry point: `Probe` is the discriminated union on
`type` the scenario's `probes:` validate against, built from the registry on first use (as faults are)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema

from harness import plugins
from harness.probes.base import ProbeModel


def _check(name: str, obj: Any) -> str | None:
    if not (isinstance(obj, type) and issubclass(obj, ProbeModel)):
        return "not a probe model (a subclass of harness.probes.base.ProbeModel)"
    try:
        wire = obj.wire_type()
    except (KeyError, ValueError, TypeError):
        return "its `type` field is not a Literal of one name"
    if wire != name:
        return f"its type is {wire!r}, not the entry point's name {name!r}"
    return None


def probe_types() -> dict[str, type[ProbeModel]]:
    """type -> model, every registered probe type; PluginError when one did not load."""
    return dict(plugins.registry().load("probes", _check))


class _Registered:
    @classmethod
    def members(cls) -> tuple[type[ProbeModel], ...]:
        return tuple(probe_types().values())

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        union: Any = Union[tuple(probe_types().values())]  # noqa: UP007 - a runtime tuple of types
        return handler.generate_schema(Annotated[union, Field(discriminator="type")])


if TYPE_CHECKING:
    Probe = ProbeModel
else:
    Probe = Annotated[ProbeModel, _Registered]
