"""JSON Schema of the scenario file, exported from the model (the model is the source of truth).

The fault, probe and flow choices come from the plugin registry: `harness schema` exports the schema of
what is installed (plugins included), `harness schema --builtin` (or `python -m harness.scenario.schema`)
that of the harness alone, which is the committed `scenarios/schema.json`; a test keeps them equal, so
editors that validate YAML against it never drift from what `harness validate` says.
"""

from __future__ import annotations

import json

from harness import plugins
from harness.scenario.model import Scenario, rebuild_models


def scenario_json_schema(builtin: bool = False) -> dict[str, object]:
    previous = plugins.use(plugins.builtin_only()) if builtin else None
    try:
        rebuild_models()
        schema = Scenario.model_json_schema(mode="validation")
    finally:
        if previous is not None:
            plugins.use(previous)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "SSO resilience harness scenario"
    return schema


def render(builtin: bool = False) -> str:
    return json.dumps(scenario_json_schema(builtin), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(builtin=True), end="")
