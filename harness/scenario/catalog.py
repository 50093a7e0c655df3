"""The scenarios shipped in `scenarios/` (found beside the package in a checkout)."""

from __future__ import annotations

from pathlib import Path

from harness.scenario.loader import load_scenario
from harness.scenario.model import Scenario

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def shipped_scenarios(directory: Path = SCENARIOS_DIR) -> list[tuple[Path, Scenario]]:
    return [(path, load_scenario(path)) for path in sorted(directory.glob("*.yaml"))]
