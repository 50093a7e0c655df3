"""JSON Schema of the scenario file, exported from the model (the model is the source of truth).

`python -m harness.scenario.schema > scenarios/schema.json` refreshes the committed copy; a test keeps
them equal, so editors that validate YAML against it never drift from what `harness validate` says.
"""

from __future__ import annotations

import json

from harness.scenario.model import Scenario


def scenario_json_schema() -> dict[str, object]:
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "SSO resilience harness scenario"
    return schema


def render() -> str:
    return json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
