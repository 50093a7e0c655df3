"""Toxic types: the base class every toxic extends and the registry of wire names.

A toxic is a frozen pydantic model of its attributes and nothing else; the per-connection state lives
in the Stage it makes for each connection (see pipeline.py). Each file in `harness/proxy/toxics/` holds
one toxic and registers it with `@register`; the file name, the class's `type_name` and the wire name
are the same string, so `ls harness/proxy/toxics/` lists what the proxy can do.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from harness.proxy.pipeline import Stage, StageContext

Stream = Literal["upstream", "downstream"]
STREAMS: tuple[Stream, ...] = ("upstream", "downstream")


class UnknownToxicType(LookupError):
    def __init__(self, type_name: str, known: list[str]):
        self.type_name = type_name
        self.known = known
        super().__init__(f"unknown toxic type {type_name!r} (known: {', '.join(known)})")


class InvalidAttributes(ValueError):
    """The attributes do not fit the toxic type; the message names each bad field."""


class Toxic(BaseModel):
    """Attributes of one toxic (immutable). Subclasses set `type_name` and implement `stage`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_name: ClassVar[str]
    # Streams the toxic can act on, the first being its default (Toxiproxy's default is downstream;
    # HTTP toxics act on requests, so theirs is upstream).
    streams: ClassVar[tuple[Stream, ...]] = ("downstream", "upstream")
    # Needs request boundaries (the connection's RequestFramer holds back incomplete request heads).
    http: ClassVar[bool] = False

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any]) -> Toxic:
        try:
            return cls.model_validate(dict(attributes))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'attributes'}: {err['msg']}" for err in exc.errors()
            )
            raise InvalidAttributes(problems) from None

    def updated(self, attributes: Mapping[str, Any]) -> Toxic:
        """A copy with some attributes changed (Toxiproxy merges an update into the existing ones)."""
        return self.from_attributes({**self.attributes(), **attributes})

    def attributes(self) -> dict[str, Any]:
        return self.model_dump()

    def stage(self, ctx: StageContext) -> Stage:  # pragma: no cover - abstract
        raise NotImplementedError


_REGISTRY: dict[str, type[Toxic]] = {}
_discovered = False

T = TypeVar("T", bound=type[Toxic])


def register(cls: T) -> T:
    """Class decorator: makes a toxic known under its wire name, which must be its module's name."""
    module_name = cls.__module__.rpartition(".")[2]
    if cls.type_name != module_name:
        raise TypeError(f"toxic {cls.__name__}: type_name {cls.type_name!r} differs from its file {module_name}.py")
    if cls.type_name in _REGISTRY and _REGISTRY[cls.type_name] is not cls:
        raise TypeError(f"toxic type {cls.type_name!r} registered twice")
    _REGISTRY[cls.type_name] = cls
    return cls


def _discover() -> None:
    """Imports every module of harness.proxy.toxics once, so each registers itself."""
    global _discovered
    if _discovered:
        return
    from harness.proxy import toxics

    for info in pkgutil.iter_modules(toxics.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{toxics.__name__}.{info.name}")
    _discovered = True


def known_types() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def toxic_class(type_name: str) -> type[Toxic]:
    _discover()
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise UnknownToxicType(type_name, known_types()) from None


def create_toxic(type_name: str, attributes: Mapping[str, Any] | None = None) -> Toxic:
    """The toxic of that type with those attributes; UnknownToxicType or InvalidAttributes."""
    return toxic_class(type_name).from_attributes(attributes or {})
