"""Scenario parameters: `extends:` (a base file whose blocks this one overrides), `${VAR}` and
`${VAR:-default}` from the environment, and `--set path=value` overrides, applied in that order to the
tree the loader built, each value keeping where it came from (a file and line, or the override) so that
a validation error names its source.

- `extends: base.yaml` (relative to the file) merges mappings key by key, this file winning; a list
  (phases, flows, slos) is replaced whole. A base may extend another, up to MAX_EXTENDS deep, no cycles.
- `${VAR}` is the environment variable's value, `${VAR:-text}` with a default when it is unset or empty,
  and `$${` a literal `${`. Only values are substituted, never keys.
- `--set load.users=200`, `--set phases.1.duration_s=60`: a dotted path (list items by index) and a YAML
  value (`--set 'flows=[{flow: refresh_token}]'`); the path must lead through what the file has, except
  for the last key of a mapping, which may be new.

A variable whose name says it is secret (SECRET_NAME: `*TOKEN*`, `*PASSWORD*`, `*SECRET*`, `*KEY*`...)
is substituted for the run, but the resolved scenario (the run directory's scenario.yaml) keeps the
`${VAR}` itself (`Resolved.secret_templates`), and its value joins the run's secret scan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Problem, ScenarioError

PathKey = tuple[str | int, ...]
MAX_EXTENDS = 5
VARIABLE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|KEY|CREDENTIAL|PRIVATE|AUTH|COOKIE|SESSION", re.IGNORECASE)
OVERRIDE = re.compile(r"^([A-Za-z0-9_.-]+)=(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Source:
    """Where a value came from: a file and line, or a `--set` override."""

    file: str
    line: int | None

    def problem(self, path: str, message: str) -> Problem:
        return Problem(self.file, self.line, path, message)


@dataclass
class Resolved:
    """A scenario tree with every parameter applied, and where each of its values came from."""

    data: Any
    where: dict[PathKey, Source]
    secret_templates: dict[PathKey, str] = field(default_factory=dict)  # path -> its text with ${VAR} kept
    secret_values: list[str] = field(default_factory=list)


def dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path)


# --- extends ---------------------------------------------------------------------------------------


def merge(base: Any, over: Any, base_where: dict[PathKey, Source], over_where: dict[PathKey, Source],
          path: PathKey = ()) -> Any:  # fmt: skip
    """`over` on top of `base`: mappings merged key by key, anything else replaced; `base_where` ends up
    holding the source of every value of the result."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            child = (*path, str(key))
            if key in out:
                out[key] = merge(out[key], value, base_where, over_where, child)
            else:
                _take_where(base_where, over_where, child)
                out[key] = value
        if path in over_where:
            base_where.setdefault(path, over_where[path])
        return out
    _take_where(base_where, over_where, path)
    return over


def _take_where(into: dict[PathKey, Source], source: dict[PathKey, Source], path: PathKey) -> None:
    for key in [k for k in into if k[: len(path)] == path]:
        del into[key]
    into.update({k: v for k, v in source.items() if k[: len(path)] == path})


def extends_of(data: Any, where: dict[PathKey, Source], file: Path) -> Path | None:
    """The base file this scenario names (resolved against its directory), or None."""
    if not isinstance(data, dict) or "extends" not in data:
        return None
    value = data["extends"]
    src = where.get(("extends",), Source(str(file), None))
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError([src.problem("extends", "expected the path of a scenario file (e.g. base.yaml)")])
    return (file.parent / value).resolve()


# --- ${VAR} ----------------------------------------------------------------------------------------


def substitute(data: Any, where: dict[PathKey, Source], environ: Mapping[str, str]) -> Resolved:
    """Every `${VAR}` of every value, from `environ`; ScenarioError listing each variable not set."""
    problems: list[Problem] = []
    resolved = Resolved(None, where)

    def text(value: str, path: PathKey) -> str:
        secret_used = False

        def value_of(match: re.Match[str], keep_secrets: bool) -> str:
            nonlocal secret_used
            escaped, name, default = match.group(1), match.group(2), match.group(3)
            if escaped:
                return match.group(0) if keep_secrets else match.group(0)[1:]
            got = environ.get(name) or (default if default is not None else None)
            if got is None:
                if keep_secrets:  # the second pass, for the resolved file: already reported
                    return match.group(0)
                src = where.get(path, Source("<scenario>", None))
                message = f"${{{name}}} is not set in the environment (set it, or give a default: ${{{name}:-value}})"
                problems.append(src.problem(dotted(path), message))
                return ""
            if SECRET_NAME.search(name):
                secret_used = True
                if environ.get(name) and not keep_secrets:
                    resolved.secret_values.append(got)
                if keep_secrets:
                    return match.group(0)
            return got

        out = VARIABLE.sub(lambda m: value_of(m, False), value)
        if secret_used:  # the resolved file keeps the ${VAR}, the other variables substituted
            resolved.secret_templates[path] = VARIABLE.sub(lambda m: value_of(m, True), value)
        return out

    def walk(node: Any, path: PathKey) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, str) and "$" in node:
            return text(node, path)
        return node

    resolved.data = walk(data, ())
    if problems:
        raise ScenarioError(problems)
    return resolved


def escape(value: str) -> str:
    """A literal string as the file must say it so that loading it again gives it back."""
    return value.replace("${", "$${")


# --- --set -----------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[PathKey, str]:
    """`load.users=200` -> (("load", "users"), "200"); ScenarioError for anything else."""
    match = OVERRIDE.match(text)
    if not match:
        raise ScenarioError([Problem(f"--set {text}", None, "", "expected PATH=VALUE, e.g. load.users=200")])
    parts = match.group(1).split(".")
    if any(not p for p in parts):
        raise ScenarioError([Problem(f"--set {text}", None, "", f"empty part in the path {match.group(1)!r}")])
    return tuple(int(p) if p.isdigit() else p for p in parts), match.group(2)


def apply_override(data: Any, where: dict[PathKey, Source], path: PathKey, value: Any, text: str,
                   value_where: dict[PathKey, Source]) -> Any:  # fmt: skip
    """`data` with `value` at `path`; where the path does not lead, a ScenarioError naming the override."""
    src = Source(f"--set {text}", None)
    if not isinstance(data, dict):
        raise ScenarioError([src.problem("", "the scenario is not a mapping")])
    node: Any = data
    for i, part in enumerate(path[:-1]):
        here = dotted(path[: i + 1])
        node = _child(node, part, here, src)
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or not 0 <= last < len(node):
            raise ScenarioError([src.problem(dotted(path), _no_item(last, len(node)))])
        node[last] = value
    elif isinstance(node, dict):
        node[str(last)] = value
    else:
        raise ScenarioError([src.problem(dotted(path), f"{dotted(path[:-1]) or 'the scenario'} holds a single "
                                                       "value, not fields or items")])  # fmt: skip
    key_path = tuple(str(p) if isinstance(p, str) else p for p in path)
    _take_where(where, {(*key_path, *k): src for k in value_where} | {key_path: src}, key_path)
    return data


def _child(node: Any, part: str | int, here: str, src: Source) -> Any:
    if isinstance(node, list):
        if not isinstance(part, int) or not 0 <= part < len(node):
            raise ScenarioError([src.problem(here, _no_item(part, len(node)))])
        return node[part]
    if isinstance(node, dict):
        if str(part) not in node:
            known = ", ".join(sorted(map(str, node))) or "nothing"
            raise ScenarioError([src.problem(here, f"the scenario has no {part!r} here (it has: {known})")])
        return node[str(part)]
    raise ScenarioError([src.problem(here, "a single value, not fields or items")])


def _no_item(part: str | int, length: int) -> str:
    if not isinstance(part, int):
        return f"a list: give an item's index (0 to {length - 1}), not {part!r}"
    return f"the list has {length} items (0 to {length - 1}); there is no item {part}"


def check_unique(overrides: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for text in overrides:
        path = text.split("=", 1)[0]
        if path in seen:
            raise ScenarioError([Problem(f"--set {text}", None, path, f"set twice (also --set {seen[path]})")])
        seen[path] = text
