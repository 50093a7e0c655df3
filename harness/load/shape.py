"""Load over time from the scenario: which user count and spawn rate apply at run time t.

v1: every phase runs `load.users`; the run ends when the last phase does. Pure, so it is tested
without Locust; the locustfile's LoadTestShape only calls `target_at`.
"""

from __future__ import annotations

from harness.scenario.model import Scenario


def target_at(scenario: Scenario, run_time_s: float) -> tuple[int, float] | None:
    if run_time_s >= scenario.duration_s:
        return None
    return scenario.load.users, scenario.load.spawn_rate
