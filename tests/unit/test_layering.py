"""The layering of harness/, checked on the import graph (every import, at module level or inside a
function): which package may import which, no cycle between packages, nothing reaching into another
package's private modules, and gevent/locust only inside harness/load.

The map below is the architecture section of the README in executable form: change both together.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "harness"

LEAVES = {"errors", "modelbase", "endpoints", "lifeline", "tlsca", "plugins"}
# package -> the packages it may import (leaves may be imported by anyone; nobody imports harness.load,
# which Locust loads by path, nor the servers idp and proxy except to run them or to talk to them)
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "modelbase": set(),
    "endpoints": set(),
    "lifeline": set(),
    "tlsca": set(),
    "plugins": {"errors"},
    "contract": {"modelbase"},
    "records": {"contract"},
    "faults": {"contract"},
    "probes": set(),
    "proxy": set(),
    "idp": {"contract"},
    "scenario": {"contract", "faults", "probes"},
    "clients": {"contract", "scenario"},
    "chaos": {"contract", "faults", "scenario"},
    "analysis": {"contract", "records", "scenario"},
    "report": {"analysis", "contract", "records", "scenario"},
    "load": {"clients", "contract", "faults", "proxy", "records", "scenario"},
    "run": {"analysis", "chaos", "clients", "contract", "faults", "probes", "proxy", "records", "report", "scenario"},
    "scaffold": set(),
    "cli": {"contract", "idp", "proxy", "report", "run", "scaffold", "scenario"},
    "__main__": {"cli"},
}
ONLY_IN_LOAD = ("gevent", "locust", "geventhttpclient")


def package_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


@cache
def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import in the file, wherever it stands."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


@cache
def graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> where ('file:line name')."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        source = package_of(path)
        for line, name in imports(path):
            parts = name.split(".")
            if parts[0] == "harness" and len(parts) > 1 and parts[1] != source:
                edges[source][parts[1]].append(f"{path.relative_to(PACKAGE.parent)}:{line} {name}")
    return edges


def test_every_package_is_in_the_map() -> None:
    packages = {package_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert packages == set(ALLOWED)


def test_the_map_itself_has_no_cycle() -> None:
    TopologicalSorter(ALLOWED).static_order()  # raises CycleError


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_the_map_allows(package: str) -> None:
    wrong = {
        target: where
        for target, where in graph()[package].items()
        if target not in ALLOWED[package] and target not in LEAVES
    }
    assert not wrong, f"{package} may not import {sorted(wrong)}: {wrong}"


def test_the_import_graph_has_no_package_cycle() -> None:
    actual = {source: set(targets) for source, targets in graph().items()}
    try:
        TopologicalSorter(actual).static_order()
    except CycleError as exc:
        pytest.fail(f"package cycle: {' -> '.join(exc.args[1])}")


def test_nothing_reaches_into_another_packages_private_modules() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        source = package_of(path)
        for line, name in imports(path):
            parts = name.split(".")
            private = [p for p in parts[2:] if p.startswith("_") and not p.startswith("__")]
            if parts[0] == "harness" and len(parts) > 2 and parts[1] != source and private:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} {name}")
    assert wrong == []


def test_only_the_load_package_imports_gevent_or_locust() -> None:
    wrong = [
        f"{path.relative_to(PACKAGE.parent)}:{line} {name}"
        for path in PACKAGE.rglob("*.py")
        if package_of(path) != "load"
        for line, name in imports(path)
        if name.split(".")[0] in ONLY_IN_LOAD
    ]
    assert wrong == [], "gevent monkey-patches the process it is imported in"


MAX_LINES = 450


def test_modules_stay_small_or_say_why() -> None:
    """A module past MAX_LINES says why in its docstring, on a line starting with 'Size:'."""
    unexplained = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if not any(line.startswith("Size:") for line in doc.splitlines()):
                unexplained.append(f"{path.relative_to(PACKAGE.parent)}: {text.count(chr(10))} lines")
    assert unexplained == []
