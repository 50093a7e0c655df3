"""The scenarios shipped in `scenarios/` (found beside the package in a checkout), and the question each
one asks, as `harness scenarios` lists them."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ScenarioError
from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario

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
    """The scenario with every default filled in, as the run directory keeps it (`scenario.yaml`)."""
    import yaml

    return yaml.safe_dump(scenario.model_dump(mode="json", exclude_none=True), sort_keys=False)


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
