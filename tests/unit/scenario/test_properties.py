"""Property tests over the loader: whatever the file holds, the answer is a Scenario or a list of
located problems (exit 2), never a crash, and every problem points at a line inside the file. Besides
mutated scenarios and arbitrary text, files made of YAML's sharp edges (anchors and aliases, flow and
block nesting, tags, dates, long numbers), through LibYAML and through the pure-Python parser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.scenario import load_scenario_text, loader

DEMO = yaml.safe_load((Path(__file__).resolve().parents[2] / "fixtures/scenarios/valid/demo.yaml").read_text())

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


ALL_PATHS = [p for p in paths(DEMO) if p]


def mutate(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    import copy

    doc = copy.deepcopy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"extra_{abs(hash(str(value))) % 1000}"] = value
    return doc


def check(text: str) -> None:
    lines = len(text.splitlines()) + 1  # YAML also breaks lines at NEL, LS and PS, as splitlines does
    try:
        load_scenario_text(text, "prop.yaml")
    except ScenarioError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.message
            assert problem.line is None or 1 <= problem.line <= lines
            assert str(problem).startswith("prop.yaml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_PATHS), st.sampled_from(["replace", "delete", "add"]), junk)
def test_mutated_scenarios_load_or_fail_with_located_problems(path, action, value) -> None:
    check(yaml.safe_dump(mutate(DEMO, path, action, value), sort_keys=False))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    check(text)


# the pieces a hostile file is made of: every token a nesting, alias or tag trick needs, and values whose
# construction can fail (dates out of range, integers past Python's digit limit)
SHARP_EDGES = [
    "[", "]", "{", "}", ", ", ": ", "- ", "\n", "\n  ", "\n    ", "&a ", "&b ", "*a", "*b", "<<: ", "? ",
    "!!python/object:os.system ", "!!binary ", "!!set ", "!!omap ", "!!int ", "!!float ", "!!timestamp ",
    "2024-13-45", "2001-12-14t21:59:43.10-05:00", "9" * 4400, "1e999", ".nan", "~", "'", '"', "\\", "|", ">",
    "#", "---", "...", "%YAML 1.1", "name", "phases", "duration_s", "faults", "type", "x", "1", "\t", "\x00",
]


@contextmanager
def pure_python_yaml(on: bool) -> Iterator[None]:
    with mock.patch.object(loader, "_LOADER", yaml.SafeLoader) if on else nullcontext():
        yield


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SHARP_EDGES), max_size=80).map("".join), st.booleans())
def test_files_made_of_yamls_sharp_edges_never_crash_the_loader(text: str, pure_python: bool) -> None:
    with pure_python_yaml(pure_python):
        check("name: fuzz\nphases: [{name: p, duration_s: 1}]\n" + text)
        check(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 12), st.integers(2, 12), st.sampled_from(["[{0}]", "{{k: [{0}]}}", "- [{0}]"]),
       st.booleans())
def test_alias_chains_of_any_shape_are_refused_or_loaded_never_built_whole(levels, width, shape, pure_python):
    """`levels` anchors each naming `width` copies of the one before: up to 12^12 values once expanded."""
    lines = ["name: chain", "phases: [{name: p, duration_s: 1}]", "a0: &a0 x"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} " + shape.format(", ".join([f"*a{i - 1}"] * width)).replace("- ", ""))
    with pure_python_yaml(pure_python):
        check("\n".join(lines) + "\n")


@pytest.mark.parametrize("pure_python", [False, True], ids=["libyaml", "pure-python"])
def test_a_yaml_directive_with_a_version_past_pythons_digit_limit_is_a_located_problem(pure_python: bool) -> None:
    """Found by the test above: PyYAML reads the version with int(), which refuses 4,300+ digits."""
    text = "%YAML 1." + "9" * 4401 + "\n---\nname: fuzz\n"
    with pure_python_yaml(pure_python), pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "prop.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("prop.yaml", 1) and "not valid YAML" in problem.message
