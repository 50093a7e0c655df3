"""The shipped scenario library: every file loads, asks a question, states a hypothesis, and keeps the
fail-closed invariant as an SLO; `harness scenarios` lists each with its question."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import Runtime, ScenarioChoice
from harness.scenario import load_scenario, load_scenario_text
from harness.scenario.catalog import (
    SCENARIOS_DIR,
    candidates,
    conflict,
    listing,
    question_of,
    shipped_scenarios,
)
from harness.scenario.model import Scenario

SHIPPED = shipped_scenarios()
IDS = [path.stem for path, _ in SHIPPED]
ISSUE_10 = {
    "baseline", "token-latency", "idp-brownout", "throttling-storm", "jwks-outage", "key-rotation",
    "device-login-slowdown", "credential-refresh-outage", "network-partition", "target-crash-restart",
    "slow-store", "clock-skew", "soak",
}  # fmt: skip


def test_the_library_has_every_scenario_of_the_issue() -> None:
    assert {s.name for _, s in SHIPPED} >= ISSUE_10


@pytest.mark.parametrize(("path", "scenario"), SHIPPED, ids=IDS)
def test_file_name_is_the_scenario_name(path: Path, scenario: Scenario) -> None:
    assert path.stem == scenario.name


@pytest.mark.parametrize(("path", "scenario"), SHIPPED, ids=IDS)
def test_every_scenario_asks_a_question_and_states_a_hypothesis(path: Path, scenario: Scenario) -> None:
    assert scenario.question.endswith("?")
    assert scenario.description.strip()
    assert scenario.name == "demo" or scenario.hypothesis.strip()


@pytest.mark.parametrize(("path", "scenario"), SHIPPED, ids=IDS)
def test_every_scenario_keeps_fail_closed_as_an_slo(path: Path, scenario: Scenario) -> None:
    """One over the whole run; per-phase ones (forged-tokens: which forgery was caught) only besides it."""
    fail_closed = [s for s in scenario.slos if s.metric == "unauthorized_accepted"]
    assert any(s.phases is None and s.flows is None and s.steps is None for s in fail_closed)
    assert all(s.at_most == 0 for s in fail_closed)


@pytest.mark.parametrize(("path", "scenario"), SHIPPED, ids=IDS)
def test_full_length_is_a_few_minutes(path: Path, scenario: Scenario) -> None:
    assert 60 <= scenario.duration_s <= (3600 if scenario.name == "soak" else 600)


def test_question_falls_back_to_the_first_sentence_of_the_description() -> None:
    phases = [{"name": "a", "duration_s": 1}]
    asked = Scenario.model_validate({"name": "x", "question": "  Does it  hold? ", "phases": phases})
    told = Scenario.model_validate({"name": "x", "description": "First one. Second.", "phases": phases})
    assert question_of(asked) == "Does it hold?"
    assert question_of(told) == "First one"


def test_listing_shows_name_duration_file_and_question() -> None:
    lines = listing(SHIPPED)
    assert len(lines) == len(SHIPPED)
    baseline = next(line for line in lines if line.startswith("baseline "))
    assert "baseline.yaml" in baseline and "150 s" in baseline and baseline.endswith("?")


def test_scenarios_dir_is_the_checkouts() -> None:
    assert (SCENARIOS_DIR / "schema.json").is_file()


# --- what `harness ui` offers in its start form -------------------------------------------------------

UI_BASE = """
name: {name}
load: {{users: 2}}
{extra}
phases:
  - {{name: calm, duration_s: 5}}
  - name: fault
    duration_s: 5
    faults: [{fault}]
"""
HTTP_FAULT = "{type: http_error, endpoint: token, status: 503}"


def _ui_scenario(name: str, fault: str = HTTP_FAULT, extra: str = "") -> Scenario:
    return load_scenario_text(UI_BASE.format(name=name, fault=fault, extra=extra), f"{name}.yaml")


def test_a_scenario_on_the_same_target_and_proxy_may_run_instead() -> None:
    assert conflict(_ui_scenario("b", "{type: latency, endpoint: token, latency_ms: 100}"), _ui_scenario("a")) is None


def test_another_target_or_proxy_is_not_offered() -> None:
    started = _ui_scenario("a")
    assert conflict(_ui_scenario("b", extra="target: {kind: embedded, signing_alg: ES256}"), started) == (
        "needs another target"
    )
    shared = _ui_scenario("b", extra="proxy: {kind: toxiproxy, api: 'http://127.0.0.1:8474'}")
    assert conflict(shared, started) == "needs another proxy"


def test_faults_needing_channels_this_run_did_not_open_are_not_offered() -> None:
    started = _ui_scenario("a")
    store = _ui_scenario("b", fault="{type: target_store_latency, latency_ms: 50}")
    assert "chaos API" in (conflict(store, started) or "")
    assert conflict(store, _ui_scenario("c", fault="{type: target_store_latency, latency_ms: 10}")) is None
    kill = _ui_scenario("d", fault="{type: process_kill}")
    assert "process_kill" in (conflict(kill, started) or "")
    assert conflict(kill, _ui_scenario("e", fault="{type: process_kill}")) is None


def test_candidates_are_the_files_beside_then_the_shipped_ones_first_name_wins(tmp_path: Path) -> None:
    own = tmp_path / "mine.yaml"
    own.write_text(UI_BASE.format(name="mine", fault=HTTP_FAULT, extra=""))
    (tmp_path / "neighbour.yaml").write_text(UI_BASE.format(name="neighbour", fault=HTTP_FAULT, extra=""))
    (tmp_path / "baseline.yaml").write_text(UI_BASE.format(name="baseline", fault=HTTP_FAULT, extra=""))
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    found = candidates(load_scenario(own), own)
    names = [s.name for _, s in found]
    assert names[:2] == ["baseline", "neighbour"]  # beside the file first (sorted), the broken one left out
    assert found[0][0] == tmp_path / "baseline.yaml"  # the neighbour shadows the shipped baseline
    assert "idp-brownout" in names and names.count("baseline") == 1 and "mine" not in names


def test_a_form_value_names_its_choice_by_what_precedes_the_colon() -> None:
    runtime = Runtime(
        run_dir="/r", scenario_file="/r/scenario.yaml", base_url="http://127.0.0.1:1", target_url="http://127.0.0.1:2",
        client_id="c", choices=(ScenarioChoice(name="a", file="/r/scenario.yaml", plan="a: calm 5s 2u"),
                                ScenarioChoice(name="b", file="/r/choices/b.yaml", plan="b: calm 5s 2u")),
    )  # fmt: skip
    chosen = runtime.choice("b: calm 5s 2u")
    assert chosen is not None and chosen.file == "/r/choices/b.yaml"
    assert runtime.choice("zzz: nothing") is None
