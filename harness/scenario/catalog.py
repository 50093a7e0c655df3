"""The scenarios shipped in `scenarios/` (found beside the package in a checkout), and the question each
one asks, as `harness scenarios` lists them."""

from __future__ import annotations

from pathlib import Path

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
