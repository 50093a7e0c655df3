"""Scenario parameters (harness/scenario/params.py through the loader): `${VAR}` and `${VAR:-default}`
from the environment, `--set PATH=VALUE` overrides validated like the file with errors naming the
override, `extends:` for shared blocks, and secret variables kept as `${VAR}` in the resolved scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import EXIT_BAD_INPUT, ScenarioError
from harness.scenario import load_scenario, load_scenario_text
from harness.scenario.catalog import resolved_yaml

SCENARIO = """\
name: params
seed: 3
load: {users: "${USERS:-4}", spawn_rate: 4}
flows: [{flow: client_credentials}]
phases:
  - {name: baseline, duration_s: "${BASELINE_S}"}
  - {name: fault, duration_s: 5}
"""


def errors(text: str, overrides: tuple[str, ...] = (), environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "params.yaml", overrides, environ if environ is not None else {"BASELINE_S": "2"})
    assert info.value.exit_code == EXIT_BAD_INPUT
    return str(info.value)


def test_variables_come_from_the_environment_or_their_default() -> None:
    scenario = load_scenario_text(SCENARIO, "params.yaml", environ={"BASELINE_S": "2"})
    assert scenario.load.users == 4 and scenario.phases[0].duration_s == 2
    scenario = load_scenario_text(SCENARIO, "params.yaml", environ={"BASELINE_S": "7", "USERS": "9"})
    assert scenario.load.users == 9 and scenario.phases[0].duration_s == 7


def test_a_variable_not_set_is_named_with_its_file_and_line() -> None:
    message = errors(SCENARIO, environ={})
    assert "params.yaml:6: phases.0.duration_s: ${BASELINE_S} is not set in the environment" in message
    assert "USERS" not in message  # it has a default


def test_a_variable_not_set_beside_a_secret_one_is_reported_once() -> None:
    text = SCENARIO.replace('"${BASELINE_S}"', '"${APP_TOKEN}${MISSING}"')
    message = errors(text, environ={"APP_TOKEN": "1"})
    assert message.count("${MISSING} is not set") == 1 and "APP_TOKEN" not in message


def test_a_substituted_value_is_validated_with_its_source() -> None:
    message = errors(SCENARIO, environ={"BASELINE_S": "soon"})
    assert "params.yaml:6: phases.0.duration_s" in message


def test_overrides_set_values_by_path_and_list_index() -> None:
    scenario = load_scenario_text(SCENARIO, "params.yaml", ("load.users=200", "phases.1.duration_s=60"),
                                  {"BASELINE_S": "2"})  # fmt: skip
    assert scenario.load.users == 200 and scenario.phases[1].duration_s == 60
    scenario = load_scenario_text(SCENARIO, "params.yaml", ("flows=[{flow: refresh_token, weight: 2}]",),
                                  {"BASELINE_S": "2"})  # fmt: skip
    assert [f.flow for f in scenario.flows] == ["refresh_token"]


def test_a_bad_override_is_named_in_the_error() -> None:
    assert "--set load.users=many: load.users" in errors(SCENARIO, ("load.users=many",))
    assert "--set phases.5.duration_s=1: phases.5: the list has 2 items (0 to 1)" in errors(
        SCENARIO, ("phases.5.duration_s=1",))  # fmt: skip
    assert "--set lod.users=1: lod: the scenario has no 'lod' here" in errors(SCENARIO, ("lod.users=1",))
    assert "--set users: expected PATH=VALUE" in errors(SCENARIO, ("users",))
    assert "set twice" in errors(SCENARIO, ("load.users=1", "load.users=2"))


def test_extends_shares_blocks_and_this_file_wins(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("seed: 5\nload: {users: 3, spawn_rate: 3}\n"
                                        "retry: {stop: {after_attempt: 5}}\n")  # fmt: skip
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: child\nload: {users: 8}\nflows: [{flow: client_credentials}]\n"
                     "phases: [{name: only, duration_s: 3}]\n")  # fmt: skip
    scenario = load_scenario(child)
    assert (scenario.seed, scenario.load.users, scenario.load.spawn_rate) == (5, 8, 3)
    assert scenario.retry.stop.after_attempt == 5


def test_an_error_in_the_base_names_the_base_file(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("seed: 5\nload: {users: -1}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: child\nflows: [{flow: client_credentials}]\n"
                     "phases: [{name: only, duration_s: 3}]\n")  # fmt: skip
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    assert f"{tmp_path / 'base.yaml'}:2: load.users" in str(info.value)


def test_extends_cycles_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "self.yaml").write_text("extends: self.yaml\nname: s\n")
    with pytest.raises(ScenarioError, match=r"in a cycle: self\.yaml -> self\.yaml"):
        load_scenario(tmp_path / "self.yaml")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "a.yaml")
    assert f"{tmp_path / 'b.yaml'}:1: extends: the files extend one another in a cycle: a.yaml -> b.yaml -> a.yaml" in (
        str(info.value)
    )


def test_the_resolved_scenario_keeps_secret_variables_unsubstituted() -> None:
    text = (
        SCENARIO
        + "target: {kind: embedded}\nprobes:\n  - {name: app, type: http, url: 'http://127.0.0.1:9/h?t=${APP_TOKEN}'}\n"
    )
    scenario = load_scenario_text(text, "params.yaml", environ={"BASELINE_S": "2", "APP_TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" in scenario.probes[0].urls()[0]  # the run uses it
    resolved = resolved_yaml(scenario)
    assert "s3cr3t-value" not in resolved and "${APP_TOKEN}" in resolved
    data = yaml.safe_load(resolved)
    assert data["phases"][0]["duration_s"] == 2  # the other parameters are substituted
    assert "s3cr3t-value" in scenario.secret_values
