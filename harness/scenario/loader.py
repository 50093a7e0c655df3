"""YAML -> Scenario, keeping the line of every key so errors read `file:line: field.path: message`.

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

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import Problem, ScenarioError, ScenarioWarning
from harness.modelbase import FieldRenamed
from harness.scenario.model import Scenario

PathKey = tuple[str | int, ...]

MAX_BYTES = 128 * 1024  # the largest shipped scenario is under 3 KiB
MAX_DEPTH = 32  # a scenario nests about 6 deep (phases > faults > fault > attribute)
MAX_VALUES = 5_000  # scalars and collections, aliases expanded; a long scenario holds a few hundred
MAX_PROBLEMS = 50  # problems reported for one file
# LibYAML's parser where PyYAML was built with it (its wheels are): about ten times the pure-Python one's
# speed, which keeps the worst file within the limits well under a second. Both report the same marks.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
            problems = _problems(exc, filename, data, lines)
            if len(problems) > MAX_PROBLEMS:  # a file of junk keys gets a page of errors, not thousands
                more = Problem(filename, problems[MAX_PROBLEMS].line, "", f"and {len(problems) - MAX_PROBLEMS} more")
                problems = [*problems[:MAX_PROBLEMS], more]
            raise ScenarioError(problems) from None
    if scenario.testing is not None:  # a negative control must never pass for a normal run unnoticed
        where = ("testing", "lax_relying_party")
        checks = ", ".join(scenario.testing.lax_relying_party)
        message = (f"TEST ONLY: a negative control; its relying party skips checks ({checks}), so its "
                   "fail-closed SLO must fail")
        warnings.warn(ScenarioWarning(Problem(filename, lines.get(where), _dotted(where), message)), stacklevel=2)
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
        _measure(text)
        node = yaml.compose(text, Loader=_LOADER)
    except _TooBig as big:
        raise ScenarioError([Problem(filename, big.line, "", str(big))]) from None
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


def _problems(exc: ValidationError, filename: str, data: Any, lines: dict[PathKey, int]) -> list[Problem]:
    problems = []
    errors = exc.errors(include_url=False)
    failing = {tuple(e["loc"]) for e in errors}
    for err in errors:
        here = tuple(err["loc"])
        if err["type"] == "too_short" and any(loc[: len(here)] == here and loc != here for loc in failing):
            continue  # pydantic also calls a list "too short" when its only item failed: say it once
        message = _message(err)
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
        return "unknown field (check the spelling; see scenarios/schema.json)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"{msg.replace('Input should be', 'expected')} (got {err.get('input')!r})"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        field = ctx.get("discriminator", "type").strip("'")
        return f"unknown {field} {ctx.get('tag')!r} (known: {ctx.get('expected_tags')})"
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    # the model keeps sequences as tuples (frozen); in YAML they are lists
    msg = msg.replace("a valid tuple", "a list").replace("Tuple should", "List should")
    got = err.get("input")
    if kind not in ("model_type",) and isinstance(got, str | int | float | bool) and not isinstance(got, dict):
        return f"{msg[0].lower()}{msg[1:]} (got {got!r})"
    return msg[0].lower() + msg[1:]
