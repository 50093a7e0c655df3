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


@pytest.mark.timeout(30)  # the alias bomb kept the loader busy past 60 s before the loader measured files
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
    assert committed == render(builtin=True), "run: harness schema --builtin > scenarios/schema.json"


def test_a_deprecated_field_name_is_a_warning_at_its_line_and_still_loads() -> None:
    text = "name: bw\nphases:\n  - name: slow\n    duration_s: 5\n    faults:\n"
    text += "      - {type: bandwidth, rate_kbps: 16}\n"
    with pytest.warns(ScenarioWarning) as caught:
        scenario = load_scenario_text(text, "bw.yaml")
    (warning,) = [w.message for w in caught]
    assert isinstance(warning, ScenarioWarning)
    assert str(warning).startswith("bw.yaml:6: phases.0.faults.0.rate_kbps: rate_kbps is deprecated, write rate_kbyte")
    assert scenario.phases[0].faults[0].model_dump()["rate_kbyte_s"] == 16


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fixture", ["alias-bomb", "deep-nesting", "deep-nesting-one-line", "recursive-alias"])
def test_hostile_files_are_bad_input_with_file_and_line(fixture: str, capsys: pytest.CaptureFixture[str]) -> None:
    """What `harness validate` says about a file built to exhaust the loader: exit 2, `file:line:`, and no
    traceback (before: >60 s busy on the bomb, a RecursionError traceback and exit 1 on the nesting)."""
    path = FIXTURES / "invalid" / f"{fixture}.yaml"
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.match(rf"{re.escape(str(path))}:\d+: ", err), err
    assert "Traceback" not in err and "RecursionError" not in err


def test_a_file_past_the_size_limit_is_refused_before_parsing() -> None:
    from harness.scenario.loader import MAX_BYTES

    text = "name: big\nphases: [{name: p, duration_s: 1}]\n" + "# padding\n" * (MAX_BYTES // 10 + 1)
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "big.yaml")
    (problem,) = info.value.problems
    assert problem.line is not None and problem.line > 1
    assert str(problem).startswith(f"big.yaml:{problem.line}: the file is larger than")


def test_aliases_that_stay_small_are_still_allowed() -> None:
    text = ("name: shared\nphases:\n"
            "  - {name: a, duration_s: &one 1, faults: &f [{type: http_error, endpoint: token, status: 503}]}\n"
            "  - {name: b, duration_s: *one, faults: *f}\n")
    scenario = load_scenario_text(text, "shared.yaml")
    assert [p.duration_s for p in scenario.phases] == [1, 1]
    assert scenario.phases[0].faults == scenario.phases[1].faults != ()


def test_a_page_of_problems_not_thousands() -> None:
    from harness.scenario.loader import MAX_PROBLEMS

    text = "name: junk\nphases: [{name: p, duration_s: 1}]\n" + "".join(f"k{i}: 1\n" for i in range(500))
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "junk.yaml")
    problems = info.value.problems
    assert len(problems) == MAX_PROBLEMS + 1
    assert str(problems[-1]).endswith(f"and {500 - MAX_PROBLEMS} more")


def test_an_slo_leaves_out_records_in_flight_at_its_phase_end_only_when_asked() -> None:
    text = "name: x\nphases: [{name: a, duration_s: 1}]\nslos:\n  - {name: s, metric: availability, at_least: 0.9}\n"
    assert load_scenario_text(text).slos[0].in_flight_at_end == "count"
    assert main(["validate", str(FIXTURES / "invalid" / "slo-bad-in-flight.yaml")]) == 2
