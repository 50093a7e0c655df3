"""Scenario files: every shipped and fixture scenario loads; every invalid fixture fails with the
line and field path its header comment promises (`# expect: LINE: PATH: words of the message`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError, ScenarioWarning
from harness.scenario import load_scenario, load_scenario_text
from harness.scenario.catalog import shipped_scenarios

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+): (.*)$")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixtures_load(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.phases and scenario.duration_s > 0


def test_shipped_scenarios_are_valid() -> None:
    shipped = shipped_scenarios()
    assert any(s.name == "demo" for _, s in shipped)
    for _, scenario in shipped:
        assert scenario.duration_s <= 3600


def test_the_external_provider_examples_are_valid() -> None:
    examples = sorted((FIXTURES.parents[2] / "scenarios" / "external").glob("*.yaml"))
    assert examples
    for path in examples:
        assert load_scenario(path).target.kind == "external"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture_reports_line_and_path(path: Path) -> None:
    header = EXPECT.match(path.read_text().splitlines()[0])
    assert header, f"{path.name} needs a '# expect: LINE: PATH: message' header"
    line, rest = int(header.group(1)), header.group(2)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    rendered = [str(p) for p in info.value.problems]
    field, _, words = rest.partition(": ") if ": " in rest else ("", "", rest)
    prefix = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    assert any(r.startswith(prefix) and words in r for r in rendered), rendered


def test_every_error_is_reported_not_only_the_first() -> None:
    text = "name: x\nload: {users: 0, spawn_rate: -1}\nphases: [{name: a, duration_s: 1}]\n"
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "s.yaml")
    paths = {p.path for p in info.value.problems}
    assert paths == {"load.users", "load.spawn_rate"}
    assert all(p.line == 2 for p in info.value.problems)


def test_missing_file_is_bad_input() -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario("/nonexistent/scenario.yaml")


def test_validate_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(VALID[0])]) == 0
    bad = FIXTURES / "invalid" / "bad-status.yaml"
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:10: phases.1.faults.0.status:" in err
    assert "Traceback" not in err


def test_scaled_multiplies_every_phase() -> None:
    scenario = load_scenario(FIXTURES / "valid" / "demo.yaml")
    half = scenario.scaled(0.5)
    assert half.duration_s == pytest.approx(scenario.duration_s / 2)
    assert [p.faults for p in half.phases] == [p.faults for p in scenario.phases]


def test_committed_json_schema_matches_the_model() -> None:
    from harness.scenario.schema import render

    committed = (Path(__file__).resolve().parents[3] / "scenarios" / "schema.json").read_text()
    assert committed == render(), "run: python -m harness.scenario.schema > scenarios/schema.json"


def test_a_deprecated_field_name_is_a_warning_at_its_line_and_still_loads() -> None:
    text = "name: bw\nphases:\n  - name: slow\n    duration_s: 5\n    faults:\n"
    text += "      - {type: bandwidth, rate_kbps: 16}\n"
    with pytest.warns(ScenarioWarning) as caught:
        scenario = load_scenario_text(text, "bw.yaml")
    (warning,) = [w.message for w in caught]
    assert isinstance(warning, ScenarioWarning)
    assert str(warning).startswith("bw.yaml:6: phases.0.faults.0.rate_kbps: rate_kbps is deprecated, write rate_kbyte")
    assert scenario.phases[0].faults[0].model_dump()["rate_kbyte_s"] == 16
