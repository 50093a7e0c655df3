"""YAML -> Scenario, keeping the line of every key so errors read `file:line: field.path: message`, with
the scenario's parameters applied in between (`extends:`, `${VAR}`, `--set`: params.py), each value keeping
its source, so an error in a value from an override reads `--set load.users=x: load.users: message`.

PyYAML's composer already knows where each node starts; we build plain Python values from the node tree
ourselves (a few lines) so that we can keep a `path -> line` map beside them. Pydantic's error locations
are then looked up in that map.

A scenario file is input from anyone who can open a pull request, so it is measured before it is built
(`_measure`, one pass over PyYAML's event stream, which is a state machine and never recurses): at most
MAX_BYTES of text, MAX_DEPTH levels of nesting (PyYAML's composer recurses once per level, so a deeper
file would end in a RecursionError) and MAX_VALUES values *as expanded*: an alias counts as every value of
what it names, so that nine levels of nine aliases (387 million values from a few hundred bytes) are
refused at the alias that crosses the line, in milliseconds, instead of being built for minutes. Aliases
themselves stay allowed: `&defaults` / `*defaults` is a fair way to share a retry policy.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import Problem, ScenarioError, ScenarioWarning
from harness.modelbase import FieldRenamed
from harness.scenario import params
from harness.scenario.model import Scenario, rebuild_models
from harness.scenario.params import Source

PathKey = tuple[str | int, ...]

MAX_BYTES = 128 * 1024  # the largest shipped scenario is under 3 KiB
MAX_DEPTH = 32  # a scenario nests about 6 deep (phases > faults > fault > attribute)
MAX_VALUES = 5_000  # scalars and collections, aliases expanded; a long scenario holds a few hundred
MAX_PROBLEMS = 50  # problems reported for one file
# LibYAML's parser where PyYAML was built with it (its wheels are): about ten times the pure-Python one's
# speed, which keeps the worst file within the limits well under a second. Both report the same marks.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_scenario(path: str | Path, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None,
                  ) -> Scenario:  # fmt: skip
    """Read a scenario file, apply its parameters (`extends:`, `${VAR}` from `environ`, the `--set`
    `overrides`: harness.scenario.params) and validate the result; raise ScenarioError listing every
    problem found, each at its source (a file and line, or the override)."""
    path = Path(path)
    text = _read(path, None)
    return load_scenario_text(text, str(path), overrides, environ)


def load_scenario_text(text: str, filename: str = "<scenario>", overrides: Sequence[str] = (),
                       environ: Mapping[str, str] | None = None) -> Scenario:  # fmt: skip
    data, where = _tree(text, filename, ())
    resolved = params.substitute(data, where, os.environ if environ is None else environ)
    data = resolved.data
    params.check_unique(overrides)
    for override in overrides:
        at, value_text = params.parse_override(override)
        value, value_lines = parse_yaml_with_lines(value_text, f"--set {override}")
        value_where = {k: Source(f"--set {override}", None) for k in value_lines}
        data = params.apply_override(data, resolved.where, at, value, override, value_where)
    if overrides or "extends" in text:  # the files were measured one by one; now what they make together
        _measure_tree(data, filename)
    return _validate(data, resolved, filename)


def _read(path: Path, source: Source | None) -> str:
    def problem(message: str) -> ScenarioError:
        if source is not None:
            return ScenarioError([source.problem("extends", f"{path}: {message}")])
        return ScenarioError([Problem(str(path), None, "", message)])

    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise problem("no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise problem(f"cannot read: {exc}") from None


def _tree(text: str, filename: str, chain: tuple[Path, ...]) -> tuple[Any, dict[PathKey, Source]]:
    """A file's tree with its base's merged under it (`extends:`), and the source of every value."""
    data, lines = parse_yaml_with_lines(text, filename)
    if not isinstance(data, dict):
        name = type(data).__name__
        kind = "empty" if data is None else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
        message = f"a scenario is a YAML mapping, this file is {kind}"
        raise ScenarioError([Problem(filename, lines.get((), 1), "", message)])
    where = {path: Source(filename, line) for path, line in lines.items()}
    base_path = params.extends_of(data, where, Path(filename))
    if base_path is None:
        return data, where
    source = where[("extends",)]
    if base_path in chain or base_path == Path(filename).resolve():
        cycle = " -> ".join(p.name for p in (*chain, Path(filename).resolve(), base_path))
        raise ScenarioError([source.problem("extends", f"the files extend one another in a cycle: {cycle}")])
    if len(chain) >= params.MAX_EXTENDS:
        raise ScenarioError([source.problem("extends", f"more than {params.MAX_EXTENDS} files extend one another")])
    base, base_where = _tree(_read(base_path, source), str(base_path), (*chain, Path(filename).resolve()))
    del data["extends"]
    where = {k: v for k, v in where.items() if k[:1] != ("extends",)}
    return params.merge(base, data, base_where, where), base_where


def _measure_tree(data: Any, filename: str) -> None:
    """The limits of `_measure`, on a tree that several files and overrides made together."""
    total, deepest, stack = 0, 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        total += 1
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack += [(v, depth + 1) for v in node.values()]
        elif isinstance(node, list):
            stack += [(v, depth + 1) for v in node]
    if total > MAX_VALUES:
        raise ScenarioError([Problem(filename, None, "", f"with its base files and overrides, more than "
                                                        f"{MAX_VALUES:,} values (a scenario holds a few hundred)")])
    if deepest > MAX_DEPTH:
        raise ScenarioError([Problem(filename, None, "", f"with its base files and overrides, values nested "
                                                        f"deeper than {MAX_DEPTH} levels")])


def _validate(data: Any, resolved: params.Resolved, filename: str) -> Scenario:
    where = resolved.where
    rebuild_models()  # the registry's fault and probe types, metric plugins; one that does not load: PluginError
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            problems = _problems(exc, filename, data, where)
            if len(problems) > MAX_PROBLEMS:  # a file of junk keys gets a page of errors, not thousands
                more = Problem(filename, problems[MAX_PROBLEMS].line, "", f"and {len(problems) - MAX_PROBLEMS} more")
                problems = [*problems[:MAX_PROBLEMS], more]
            raise ScenarioError(problems) from None
    scenario.keep_secrets(resolved.secret_templates, resolved.secret_values)
    if scenario.testing is not None:  # a negative control must never pass for a normal run unnoticed
        at = ("testing", "lax_relying_party")
        checks = ", ".join(scenario.testing.lax_relying_party)
        message = (f"TEST ONLY: a negative control; its relying party skips checks ({checks}), so its "
                   "fail-closed SLO must fail")
        warnings.warn(ScenarioWarning(_source(at, where, filename).problem(_dotted(at), message)), stacklevel=2)
    for warning in caught:
        if isinstance(warning.message, FieldRenamed):
            for path in sorted((p for p in where if p and p[-1] == warning.message.old), key=str):
                problem = where[path].problem(_dotted(path), str(warning.message))
                warnings.warn(ScenarioWarning(problem), stacklevel=2)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return scenario


def parse_yaml_with_lines(text: str, filename: str) -> tuple[Any, dict[PathKey, int]]:
    try:
        _measure(text)
        node = yaml.compose(text, Loader=_LOADER)
    except _TooBig as big:
        raise ScenarioError([Problem(filename, big.line, "", str(big))]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem(filename, line, "", f"not valid YAML: {reason}")]) from None
    except ValueError:  # PyYAML reads a %YAML directive's version with int(), which refuses 4,300+ digits
        line = next((n for n, row in enumerate(text.splitlines(), 1) if row.startswith("%")), None)
        raise ScenarioError([Problem(filename, line, "", "not valid YAML: a directive's number is too long")]) from None
    lines: dict[PathKey, int] = {}
    if node is None:
        return None, lines
    try:
        return _build(node, (), lines), lines
    except _DuplicateKey as dup:
        raise ScenarioError([Problem(filename, dup.line, _dotted(dup.path), "key given twice")]) from None
    except _Unsupported as bad:
        raise ScenarioError([Problem(filename, bad.line, _dotted(bad.path), str(bad))]) from None


class _TooBig(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def _measure(text: str) -> None:
    """Refuse a file too large, too deep or expanding to too many values (see the module docstring)
    before anything is built from it; YAML errors are left for the composer to report. Depth and size
    are counted as built, aliases expanded: an alias nests what it names where it is used."""
    if len(text) > MAX_BYTES:
        line = text.count("\n", 0, MAX_BYTES) + 1
        raise _TooBig(f"the file is larger than {MAX_BYTES // 1024} KiB (a scenario is a page or two)", line)
    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (values it stands for, its height), expanded
    open_: list[_Frame] = [_Frame(None)]  # the document, then one frame per open collection
    total = 0
    for event in yaml.parse(text, Loader=_LOADER):
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.CollectionStartEvent):
            size, height = 1, 1
        elif isinstance(event, yaml.CollectionEndEvent):
            frame = open_.pop()
            if frame.anchor is not None:
                anchored[frame.anchor] = (frame.size, frame.height)
            open_[-1].add(frame.size, frame.height)
            continue
        elif isinstance(event, yaml.AliasEvent):
            if any(frame.anchor == event.anchor for frame in open_):
                raise _TooBig(f"the alias *{event.anchor} sits inside what it names (a structure without end)", line)
            size, height = anchored.get(event.anchor or "", (1, 0))  # unknown: the composer's error to report
        elif isinstance(event, yaml.ScalarEvent):
            size, height = 1, 0
            if event.anchor is not None:
                anchored[event.anchor] = (1, 0)
        else:
            continue
        alias = isinstance(event, yaml.AliasEvent)
        if len(open_) - 1 + height > MAX_DEPTH:
            what = "an alias that nests what it names" if alias else "values nested"
            raise _TooBig(f"{what} deeper than {MAX_DEPTH} levels", line)
        total += size
        if total > MAX_VALUES:
            raise _TooBig(f"an alias that expands past {MAX_VALUES:,} values (an alias counts as all it names)"
                          if alias else f"more than {MAX_VALUES:,} values (a scenario holds a few hundred)", line)
        if isinstance(event, yaml.CollectionStartEvent):
            open_.append(_Frame(event.anchor))
        else:
            open_[-1].add(size, height)


@dataclass
class _Frame:
    """An open collection while measuring: values inside it so far (itself included), and its height."""

    anchor: str | None
    size: int = 1
    height: int = 1

    def add(self, size: int, height: int) -> None:
        self.size += size
        self.height = max(self.height, 1 + height)


class _Unsupported(Exception):
    def __init__(self, message: str, path: PathKey, line: int):
        super().__init__(message)
        self.path, self.line = path, line


class _DuplicateKey(Exception):
    def __init__(self, path: PathKey, line: int):
        self.path, self.line = path, line


def _build(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, path)
            child = (*path, str(key))
            if key in out:
                raise _DuplicateKey(child, key_node.start_mark.line + 1)
            lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node, path)


_CONSTRUCTOR = yaml.SafeLoader("")


def _scalar(node: yaml.Node, path: PathKey) -> Any:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode):
        raise _Unsupported("mapping keys must be plain values", path, line)
    try:
        # SafeConstructor resolves the tag (int, float, bool, null, str) exactly as yaml.safe_load would.
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise _Unsupported(f"not a value a scenario can hold: {getattr(exc, 'problem', exc)}", path, line) from None
    except Exception as exc:  # PyYAML's constructors trip on hostile scalars: a date like 2024-13-45 or an int
        # of 5,000 digits (ValueError), `!!int ` with nothing after it (IndexError); each is this file's fault
        raise _Unsupported(f"not a value a scenario can hold ({type(exc).__name__})", path, line) from None


def _problems(exc: ValidationError, filename: str, data: Any, where: dict[PathKey, Source]) -> list[Problem]:
    problems = []
    errors = exc.errors(include_url=False)
    failing = {tuple(e["loc"]) for e in errors}
    for err in errors:
        here = tuple(err["loc"])
        if err["type"] == "too_short" and any(loc[: len(here)] == here and loc != here for loc in failing):
            continue  # pydantic also calls a list "too short" when its only item failed: say it once
        message = _message(err)
        if err["type"] == "extra_forbidden":
            message += did_you_mean(tuple(err["loc"]))
        loc = _yaml_path(err["loc"], data)
        marked = _FIELD_MARK.match(message)
        if marked:  # a cross-field check that knows which field is at fault (model.at_field)
            loc = (*loc, *(int(p) if p.isdigit() else p for p in marked.group(1).split(".")))
            message = message[marked.end() :]
        problems.append(_source(loc, where, filename).problem(_dotted(loc), message))
    return problems


_FIELD_MARK = re.compile(r"^\[([\w.-]+)\] ")


def _yaml_path(loc: tuple[Any, ...], data: Any) -> PathKey:
    """Drop the parts of a pydantic location that are not in the file: the tags of tagged unions."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part in (node.get("type"), node.get("kind")):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _source(loc: PathKey, where: dict[PathKey, Source], filename: str) -> Source:
    """Where the value at `loc` came from, or the nearest enclosing value's source."""
    keys = [str(k) if isinstance(k, str) else k for k in loc]
    for cut in range(len(keys), -1, -1):
        probe = tuple(keys[:cut])
        if probe in where:
            return where[probe]
    return Source(filename, None)


def _dotted(loc: PathKey) -> str:
    return ".".join(str(p) for p in loc)


def _message(err: Any) -> str:
    kind: str = err["type"]
    msg: str = err["msg"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        got = err.get("input")
        return f"{msg.replace('Input should be', 'expected')} (got {got!r}){_closest(got, msg)}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        field = ctx.get("discriminator", "type").strip("'")
        tag, known = ctx.get("tag"), str(ctx.get("expected_tags"))
        return f"unknown {field} {tag!r}{_closest(tag, known)} (known: {known})"
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    # the model keeps sequences as tuples (frozen); in YAML they are lists
    msg = msg.replace("a valid tuple", "a list").replace("Tuple should", "List should")
    got = err.get("input")
    if kind not in ("model_type",) and isinstance(got, str | int | float | bool) and not isinstance(got, dict):
        return f"{msg[0].lower()}{msg[1:]} (got {got!r})"
    return msg[0].lower() + msg[1:]


def _closest(got: Any, choices: str) -> str:
    """`; did you mean 'http_error'?` when a quoted choice in `choices` is close to what was given."""
    close = difflib.get_close_matches(str(got), re.findall(r"'([^']+)'", choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def did_you_mean(loc: tuple[Any, ...]) -> str:
    """`; did you mean think_time_s?` for an unknown field, from the fields of the model at that place (the
    model classes are walked along pydantic's error location, union tags included); else a pointer to the
    schema."""
    fields = _fields_at(Scenario, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), sorted(fields), n=2, cutoff=0.6)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    if fields:
        return f" (known here: {', '.join(sorted(fields))})"
    return " (check the spelling; see scenarios/schema.json)"


def _fields_at(tp: Any, loc: tuple[Any, ...]) -> set[str]:
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return set()
    model = _model(tp)
    return set(model.model_fields) if model is not None else set()


def _step(tp: Any, part: Any) -> Any:
    """The type one location step below `tp` (a field, a list item, a union member by its tag)."""
    if isinstance(part, int):
        tp = _unwrap(tp)
        args = typing.get_args(tp)
        return args[0] if typing.get_origin(tp) in (tuple, list) and args else None
    members = _members(tp)
    for member in members:  # a union's tag (`type:`/`kind:` value) names its member
        for tag in ("type", "kind"):
            field = member.model_fields.get(tag)
            if field is not None and part in typing.get_args(field.annotation):
                return member
    for member in members:
        if part in member.model_fields:
            return member.model_fields[part].annotation
    return None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[type[BaseModel]]:
    """The models a type may be: itself, or each model of a union (None and plain values left out), or
    of a union built from the plugin registry (its Annotated marker's `members()`)."""
    while typing.get_origin(tp) is typing.Annotated:
        for meta in typing.get_args(tp)[1:]:
            members = getattr(meta, "members", None)
            if callable(members):
                return list(members())
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) if (m := _model(arg)) is not None]
    model = _model(tp)
    return [model] if model is not None else []


def _model(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
