from harness.load.shape import target_at
from harness.scenario import load_scenario_text

SCENARIO = """
name: s
load: {users: 7, spawn_rate: 3}
phases: [{name: a, duration_s: 10}, {name: b, duration_s: 5}]
"""


def test_users_until_the_last_phase_ends() -> None:
    scenario = load_scenario_text(SCENARIO)
    assert target_at(scenario, 0) == (7, 3)
    assert target_at(scenario, 14.9) == (7, 3)
    assert target_at(scenario, 15) is None
