"""Scenario files: the model, the YAML loader that keeps line numbers, and the exported JSON Schema."""

from harness.scenario.loader import load_scenario, load_scenario_text
from harness.scenario.model import Scenario

__all__ = ["Scenario", "load_scenario", "load_scenario_text"]
