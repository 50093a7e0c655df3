"""The shipped scenario library: every file loads, asks a question, states a hypothesis, and keeps the
fail-closed invariant as an SLO; `harness scenarios` lists each with its question."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario.catalog import SCENARIOS_DIR, listing, question_of, shipped_scenarios
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
    fail_closed = [s for s in scenario.slos if s.metric == "unauthorized_accepted"]
    assert fail_closed and all(s.at_most == 0 and s.phases is None for s in fail_closed)


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
