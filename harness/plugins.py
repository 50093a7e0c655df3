"""Plugins: what packages register under the harness's entry-point groups, found with importlib.metadata.

    harness.flows    name -> a Flow subclass (harness.clients.flows.base): a journey, run through the Caller
    harness.faults   name -> a FaultModel subclass (harness.faults.base) whose `type` is that name
    harness.probes   name -> a ProbeModel subclass (harness.probes.base) whose `type` is that name
    harness.metrics  name -> a PluginMetric subclass (harness.analysis.plugin_metrics): a metric an SLO names

The harness's own flows, faults and probes are registered the same way (pyproject.toml), so the protocol a
plugin follows is the one the built-ins use. Its own metrics are not entry points: they are defined once in
harness.analysis.metrics with their confidence intervals and judged by harness.analysis.slo; the
`harness.metrics` group holds plugins only, whose names may not be one of ours. This module only finds and
imports entries; each kind's owner checks what it got against its protocol (`load(kind, check=...)`).

Entry names are read from the packages' metadata without importing anything (`entries`), so the scenario
model can list and check names cheaply; importing happens once per process and kind (`load`). An entry
that fails to import, or that two packages register under one name, is a `PluginError` (exit 2) naming
the entry, its package and what went wrong: nothing starts with a plugin half there.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema

from harness.errors import InputError

Kind = Literal["flows", "faults", "probes", "metrics"]
KINDS: tuple[Kind, ...] = get_args(Kind)
OWN_KINDS: tuple[Kind, ...] = ("flows", "faults", "probes")  # the kinds the harness registers entries of its own
OURS = "sso-resilience-harness"  # the distribution whose entries are the built-ins
REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

Source = Callable[[str], Iterable[metadata.EntryPoint]]
Check = Callable[[str, Any], str | None]  # (entry name, loaded object) -> what is wrong, or None


def group(kind: Kind) -> str:
    return f"harness.{kind}"


@dataclass(frozen=True)
class Entry:
    """One registered plugin, as its package's metadata declares it (nothing imported)."""

    kind: Kind
    name: str
    value: str  # `module:attribute`
    package: str
    version: str

    @property
    def builtin(self) -> bool:
        return self.package == OURS

    def describe(self) -> str:
        return f"{self.kind[:-1]} {self.name!r} ({self.value}) from package {self.package} {self.version}"


@dataclass(frozen=True)
class Failure:
    entry: Entry
    error: str

    def __str__(self) -> str:
        return f"{self.entry.describe()}: {self.error}"


class PluginError(InputError):
    """Plugins that could not be used; each failure names the entry and its package."""

    def __init__(self, failures: list[Failure], hint: str = ""):
        self.failures = failures
        lines = [f"plugin {f}" for f in failures]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def combined(errors: Iterable[PluginError]) -> PluginError | None:
    """One PluginError listing the failures of several (None for none), so every bad plugin is named at once."""
    failures = [f for error in errors for f in error.failures]
    return PluginError(failures, _hint(failures)) if failures else None


def _installed(name: str) -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=name)


class Registry:
    """The entries of every kind, and what importing them gave; one per process (`registry()`), or one
    made over another source in tests."""

    def __init__(self, source: Source = _installed):
        self.source = source
        self._entries: dict[Kind, list[Entry]] = {}
        self._loaded: dict[Kind, dict[str, Any]] = {}
        self._failures: dict[Kind, list[Failure]] = {}
        self._lock = threading.RLock()

    def entries(self, kind: Kind) -> list[Entry]:
        """What is registered for `kind`, built-ins first, then by package and name (metadata only)."""
        with self._lock:
            if kind not in self._entries:
                found = []
                # A package's name and version, read once per package: importlib.metadata parses the whole
                # METADATA file (long description included) on every `dist.metadata` and `dist.version`,
                # and the harness registers dozens of entries (about 80 ms a process, before this).
                about: dict[int, tuple[Any, str, str]] = {}  # id -> (the distribution, kept: the id stays its)
                for ep in self.source(group(kind)):
                    dist = getattr(ep, "dist", None)
                    if dist is None:
                        package, version = "<unknown package>", "?"
                    else:
                        if id(dist) not in about:
                            meta = dist.metadata  # `dist.version` is meta["Version"], parsed once more
                            about[id(dist)] = (dist, meta["Name"], meta["Version"])
                        _, package, version = about[id(dist)]
                    found.append(Entry(kind, ep.name, ep.value, package, version))
                found.sort(key=lambda e: (not e.builtin, e.package, e.name))
                self._entries[kind] = found
            return list(self._entries[kind])

    def names(self, kind: Kind) -> list[str]:
        return list(dict.fromkeys(e.name for e in self.entries(kind)))

    def load(self, kind: Kind, check: Check | None = None) -> dict[str, Any]:
        """name -> object for every entry of `kind`; raises PluginError listing every entry that did not
        import, did not pass `check`, or shares its name with another package's."""
        if kind in OWN_KINDS and not any(e.builtin for e in self.entries(kind)):
            raise InputError(f"none of the harness's own {kind} is registered (entry-point group {group(kind)}): "
                             "the harness is not installed; install it (`make install`, or `pip install -e .`)")
        with self._lock:
            if kind not in self._loaded:
                self._import(kind)
            failures = list(self._failures[kind])
            loaded = dict(self._loaded[kind])
        if check is not None:
            by_name = {e.name: e for e in self.entries(kind)}
            for name, obj in list(loaded.items()):
                problem = check(name, obj)
                if problem is not None:
                    failures.append(Failure(by_name[name], problem))
                    del loaded[name]
        if failures:
            raise PluginError(failures, _hint(failures))
        return loaded

    def _import(self, kind: Kind) -> None:
        entries = self.entries(kind)
        loaded: dict[str, Any] = {}
        failures: list[Failure] = []
        owners: dict[str, Entry] = {}
        for entry in entries:
            first = owners.setdefault(entry.name, entry)
            if first is not entry:
                failures.append(Failure(entry, f"the name is already registered by package {first.package} "
                                               f"({first.value}); rename one of them"))  # fmt: skip
                continue
            try:
                loaded[entry.name] = import_reference(entry.value)
            except Exception as exc:  # a plugin's import may fail in any way; it is reported, never raised
                failures.append(Failure(entry, f"{type(exc).__name__}: {exc}"))
        self._loaded[kind], self._failures[kind] = loaded, failures

    def failures(self, kind: Kind) -> list[Failure]:
        """Entries of `kind` that did not import (after importing them)."""
        with self._lock:
            if kind not in self._loaded:
                self._import(kind)
            return list(self._failures[kind])


def builtin_only() -> Registry:
    """A registry of the harness's own entries alone (the committed JSON Schema is exported from it)."""

    def ours(name: str) -> Iterable[metadata.EntryPoint]:
        return [ep for ep in _installed(name) if ep.dist is not None and ep.dist.metadata["Name"] == OURS]

    return Registry(ours)


def _hint(failures: list[Failure]) -> str:
    packages = sorted({f.entry.package for f in failures if not f.entry.builtin})
    if not packages:
        return "(the harness's own entries: reinstall it, e.g. `make install` or `pip install -e .`)"
    return f"(fix or uninstall {', '.join(packages)}; `harness scenarios --plugins` lists every plugin)"


def import_reference(reference: str) -> Any:
    """The object `module.path:attr.path` names (an entry point's value, or a scenario's `flow:`)."""
    if not REFERENCE.match(reference):
        raise ValueError(f"{reference!r} is not a module:attribute reference (e.g. mypkg.journeys:Checkout)")
    module_name, _, attrs = reference.partition(":")
    obj: Any = importlib.import_module(module_name)
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj


_REGISTRY = Registry()
_RESET_HOOKS: list[Callable[[], None]] = []


def registry() -> Registry:
    """The process's registry (the installed packages' entry points)."""
    return _REGISTRY


def use(new: Registry) -> Registry:
    """Make `new` the process's registry (tests, and a fresh look after installing a package); returns the
    previous one. Everything built from the registry (the scenario model's unions) is rebuilt on next use."""
    global _REGISTRY
    previous, _REGISTRY = _REGISTRY, new
    for hook in _RESET_HOOKS:
        hook()
    return previous


def on_reset(hook: Callable[[], None]) -> None:
    """Call `hook` whenever the registry is replaced (owners of things built from it drop their copies)."""
    _RESET_HOOKS.append(hook)


def check_all(kinds: Iterable[Kind] = KINDS) -> None:
    """Import every entry of every kind; raise one PluginError listing every failure (before a run)."""
    failures = [f for kind in kinds for f in registry().failures(kind)]
    if failures:
        raise PluginError(failures, _hint(failures))


def typed_model_check(base: type, what: str) -> Callable[[str, Any], str | None]:
    """The check of an entry point that must be a `base` subclass whose `type` Literal is the entry point's
    name (fault and probe types alike); `what` says what it should have been."""

    def check(name: str, obj: Any) -> str | None:
        if not (isinstance(obj, type) and issubclass(obj, base)):
            return f"not {what}"
        model: Any = obj  # a `base` subclass, which declares wire_type
        try:
            wire = model.wire_type()
        except (KeyError, ValueError, TypeError):
            return "its `type` field is not a Literal of one name"
        if wire != name:
            return f"its type is {wire!r}, not the entry point's name {name!r}"
        return None

    return check


def registered_union(types: Callable[[], dict[str, Any]]) -> type:
    """Pydantic metadata: validate as the discriminated union on `type` of the registered models, built when
    the enclosing model's schema is built (on first use, never at import). `members()` is what the
    scenario loader walks to suggest a field's spelling."""

    class Registered:
        @classmethod
        def members(cls) -> tuple[Any, ...]:
            return tuple(types().values())

        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
            union: Any = Union[tuple(types().values())]  # noqa: UP007 - a runtime tuple of types
            return handler.generate_schema(Annotated[union, Field(discriminator="type")])

    return Registered
