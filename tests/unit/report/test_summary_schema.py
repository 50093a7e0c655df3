"""summary.json is what its published schema says (harness/report/summary.schema.json)."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

import harness.report
from harness.analysis.summary import SCHEMA_VERSION

SCHEMA = json.loads((Path(harness.report.__file__).parent / "summary.schema.json").read_text())


def test_the_schema_is_itself_valid_and_of_this_version():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_a_built_summary_validates(built):
    jsonschema.validate(built.summary, SCHEMA)
    on_disk = json.loads((built.run_dir / "summary.json").read_text())
    jsonschema.validate(on_disk, SCHEMA)


def test_a_summary_that_breaks_the_contract_does_not(built):
    broken = copy.deepcopy(built.summary)
    broken["phases"]["brownout"]["latency_ms"]["operation"].pop("p99.9")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
