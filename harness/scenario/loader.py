"""YAML -> Scenario, keeping the line of every key so errors read `file:line: field.path: message`.

PyYAML's composer already knows where each node starts; we build plain Python values from the node tree
ourselves (a few lines) so that we can keep a `path -> line` map beside them. Pydantic's error locations
are then looked up in that map.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import Problem, ScenarioError, ScenarioWarning
from harness.modelbase import FieldRenamed
from harness.scenario.model import Scenario

PathKey = tuple[str | int, ...]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError listing every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(str(path), None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(str(path), None, "", f"cannot read: {exc}")]) from None
    return load_scenario_text(text, str(path))


def load_scenario_text(text: str, filename: str = "<scenario>") -> Scenario:
    data, lines = parse_yaml_with_lines(text, filename)
    if not isinstance(data, dict):
        name = type(data).__name__
        kind = "empty" if data is None else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
        message = f"a scenario is a YAML mapping, this file is {kind}"
        raise ScenarioError([Problem(filename, lines.get((), 1), "", message)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            raise ScenarioError(_problems(exc, filename, data, lines)) from None
    for warning in caught:
        if isinstance(warning.message, FieldRenamed):
            for path in sorted(p for p in lines if p and p[-1] == warning.message.old):
                problem = Problem(filename, lines[path], _dotted(path), str(warning.message))
                warnings.warn(ScenarioWarning(problem), stacklevel=2)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return scenario


def parse_yaml_with_lines(text: str, filename: str) -> tuple[Any, dict[PathKey, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([Problem(filename, line, "", f"not valid YAML: {reason}")]) from None
    lines: dict[PathKey, int] = {}
    if node is None:
        return None, lines
    try:
        return _build(node, (), lines), lines
    except _DuplicateKey as dup:
        raise ScenarioError([Problem(filename, dup.line, _dotted(dup.path), "key given twice")]) from None
    except _Unsupported as bad:
        raise ScenarioError([Problem(filename, bad.line, _dotted(bad.path), str(bad))]) from None


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


def _problems(exc: ValidationError, filename: str, data: Any, lines: dict[PathKey, int]) -> list[Problem]:
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
        problems.append(Problem(filename, _nearest_line(loc, lines), _dotted(loc), message))
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


def _nearest_line(loc: PathKey, lines: dict[PathKey, int]) -> int | None:
    keys = [str(k) if isinstance(k, str) else k for k in loc]
    for cut in range(len(keys), -1, -1):
        probe = tuple(keys[:cut])
        if probe in lines:
            return lines[probe]
    return None


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
    tp = _unwrap(tp)
    if isinstance(part, int):
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
    """The models a type may be: itself, or each model of a union (None and plain values left out)."""
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) if (m := _model(arg)) is not None]
    model = _model(tp)
    return [model] if model is not None else []


def _model(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
