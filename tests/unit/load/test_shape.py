from harness.load.shape import rate_at, stages, target_at
from harness.scenario import load_scenario_text

SCENARIO = """
name: s
load: {users: 7, spawn_rate: 3}
phases: [{name: a, duration_s: 10}, {name: b, duration_s: 5}]
"""

STAGED = """
name: s
load: {users: 7, spawn_rate: 3, arrival: open, rate_per_s: 20}
phases:
  - {name: warm, duration_s: 10, users: 2}
  - {name: peak, duration_s: 5, users: 40, spawn_rate: 40, rate_per_s: 200}
  - {name: cool, duration_s: 5}
"""


def test_users_until_the_last_phase_ends() -> None:
    scenario = load_scenario_text(SCENARIO)
    assert target_at(scenario, 0) == (7, 3)
    assert target_at(scenario, 14.9) == (7, 3)
    assert target_at(scenario, 15) is None
    assert rate_at(scenario, 0) is None  # closed loop has no rate


def test_a_phase_overrides_the_load_for_its_stage_only() -> None:
    scenario = load_scenario_text(STAGED)
    assert [(s.phase, s.start_s, s.end_s) for s in stages(scenario)] == [
        ("warm", 0, 10), ("peak", 10, 15), ("cool", 15, 20)
    ]
    assert target_at(scenario, 9.99) == (2, 3)
    assert target_at(scenario, 10) == (40, 40)
    assert target_at(scenario, 19) == (7, 3)
    assert rate_at(scenario, 12) == (200, 40)
    assert rate_at(scenario, 16) == (20, 7)
    assert target_at(scenario, 20) is None


def test_open_arrival_needs_a_rate() -> None:
    import pytest

    from harness.errors import ScenarioError

    with pytest.raises(ScenarioError, match="rate_per_s"):
        load_scenario_text("name: s\nload: {arrival: open}\nphases: [{name: a, duration_s: 1}]\n")
