"""The scenarios shipped in `scenarios/` (found beside the package in a checkout), and the question each
one asks, as `harness scenarios` lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import InputError, ScenarioError
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario
from harness.scenario.params import escape

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def shipped_scenarios(directory: Path = SCENARIOS_DIR) -> list[tuple[Path, Scenario]]:
    return [(path, load_scenario(path)) for path in sorted(directory.glob("*.yaml"))]


def question_of(scenario: Scenario) -> str:
    """The scenario's `question`, or else the first sentence of its description."""
    if scenario.question.strip():
        return " ".join(scenario.question.split())
    first = " ".join(scenario.description.split()).split(". ")[0]
    return first.rstrip(".")


def listing(scenarios: list[tuple[Path, Scenario]]) -> list[str]:
    """One line per scenario: name, full-length duration, file, question."""
    return [f"{s.name:<26} {s.duration_s:>6g} s  {path.name:<30} {question_of(s)}" for path, s in scenarios]


def resolved_yaml(scenario: Scenario) -> str:
    """The scenario with every default filled in and every parameter applied, as the run directory keeps
    it (`scenario.yaml`): loading it again gives the same scenario. A value that came from a secret-named
    variable keeps its `${VAR}` (never the secret), and a literal `${` is escaped as `$${`."""
    import yaml

    data = _escaped(scenario.model_dump(mode="json", exclude_none=True))
    for path, template in scenario.secret_templates.items():
        _put(data, path, template)
    text = yaml.safe_dump(data, sort_keys=False)
    leaked = [v for v in scenario.secret_values if len(v) >= 4 and v in text]
    if leaked:  # a secret reached a field the templates do not cover (a renamed field): refuse to write it
        raise InputError(f"{scenario.name}: a value from a secret variable would be written into the resolved "
                         "scenario; pass it through a field that takes it as given (a header, an argument)")
    return text


def _put(data: Any, path: tuple[str | int, ...], value: str) -> None:
    """Set the value at `path` when the dump has it (a field left at its default is not there)."""
    node = data
    for part in path[:-1]:
        node = _at(node, part)
    last = path[-1]
    if _at(node, last) is None:
        return
    if isinstance(node, dict):
        node[last] = value
    else:
        assert isinstance(node, list) and isinstance(last, int)
        node[last] = value


def _at(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _escaped(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _escaped(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_escaped(v) for v in node]
    return escape(node) if isinstance(node, str) else node


def conflict(candidate: Scenario, started: Scenario) -> str | None:
    """Why `candidate` cannot run on the services started for `started` (same target, proxy and fault
    channels; the web UI offers only scenarios this returns None for), or None when it can."""
    if candidate.target != started.target:
        return "needs another target"
    if candidate.proxy != started.proxy:
        return "needs another proxy"
    if candidate.fault_types("target") and not started.fault_types("target"):
        return "needs the target's chaos API, which this run did not switch on"
    # the control channel serves the fault types it was started for
    missing = candidate.fault_types("process", "network", "plugin") - started.fault_types()
    if missing:
        return f"needs {', '.join(sorted(missing))}, which this run's control channel was not set up for"
    return None


def candidates(started: Scenario, source: Path, directory: Path = SCENARIOS_DIR) -> list[tuple[Path, Scenario]]:
    """What `harness ui` offers in its start form besides the scenario it was given: the scenarios beside
    that file and the shipped ones, each loaded (files that do not load are left out), first name wins."""
    seen = {started.name}
    out: list[tuple[Path, Scenario]] = []
    files = sorted(source.resolve().parent.glob("*.yaml")) + sorted(directory.glob("*.yaml"))
    for path in files:
        if path.resolve() == source.resolve():
            continue
        try:
            scenario = load_scenario(path)
        except (ScenarioError, OSError):
            continue
        if scenario.name in seen:
            continue
        seen.add(scenario.name)
        out.append((path, scenario))
    return out
