"""Load over time from the scenario: the stages of the LoadTestShape, one per phase.

A phase's own `users`, `spawn_rate` and `rate_per_s` override `load:` for that phase, so stages are
aligned with the phases by construction. Pure, so it is tested without Locust; the locustfile's
LoadTestShape only calls `target_at`, users in open arrival ask `rate_at`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.scenario.model import Scenario


@dataclass(frozen=True)
class Stage:
    phase: str
    start_s: float
    end_s: float
    users: int
    spawn_rate: float
    rate_per_s: float | None  # open arrival only: journeys started per second, across all users

    def describe(self) -> str:
        load = f"{self.users} users (spawn {self.spawn_rate:g}/s)"
        if self.rate_per_s is not None:
            load += f", {self.rate_per_s:g} journeys/s"
        return f"{self.start_s:g}-{self.end_s:g} s {self.phase}: {load}"


def stages(scenario: Scenario) -> list[Stage]:
    out, t = [], 0.0
    load = scenario.load
    for phase in scenario.phases:
        rate = phase.rate_per_s if phase.rate_per_s is not None else load.rate_per_s
        out.append(
            Stage(
                phase=phase.name,
                start_s=t,
                end_s=t + phase.duration_s,
                users=phase.users if phase.users is not None else load.users,
                spawn_rate=phase.spawn_rate if phase.spawn_rate is not None else load.spawn_rate,
                rate_per_s=rate if load.arrival == "open" else None,
            )
        )
        t += phase.duration_s
    return out


def stage_at(scenario: Scenario, run_time_s: float) -> Stage | None:
    for stage in stages(scenario):
        if run_time_s < stage.end_s:
            return stage
    return None


def target_at(scenario: Scenario, run_time_s: float) -> tuple[int, float] | None:
    """(users, spawn rate) at `run_time_s`, or None once the last phase has ended (the test stops)."""
    stage = stage_at(scenario, run_time_s)
    return None if stage is None else (stage.users, stage.spawn_rate)


def rate_at(scenario: Scenario, run_time_s: float) -> tuple[float, int] | None:
    """Open arrival: (journeys per second, users sharing them) at `run_time_s`; None when closed."""
    stage = stage_at(scenario, run_time_s)
    if stage is None or stage.rate_per_s is None:
        return None
    return stage.rate_per_s, max(1, stage.users)
