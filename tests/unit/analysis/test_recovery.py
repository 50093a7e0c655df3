import pytest

from harness.analysis.frames import load_run
from harness.analysis.recovery import baseline_phase, fault_recoveries, horizon_end
from harness.scenario import load_scenario_text
from tests.unit.analysis.synthetic import T0


def test_synthetic_fault_is_detected_after_one_second_and_recovers_two_seconds_after_removal(run_dir):
    run = load_run(run_dir)
    assert baseline_phase(run) == "baseline"
    assert horizon_end(run, run.faults[0]) == pytest.approx(T0 + 29.9)  # end of recovery, clipped to data
    found = fault_recoveries(run)["brownout.0"]
    assert (found.time_to_detect_s, found.time_to_recover_s, found.recovered) == (1.0, 2.0, True)


def test_without_a_phase_named_baseline_the_first_fault_free_phase_is_the_baseline(run_dir):
    run = load_run(run_dir)
    renamed = load_scenario_text(
        """
name: t
phases:
  - {name: warmup, duration_s: 1, faults: [{type: latency, latency_ms: 5}]}
  - {name: steady, duration_s: 1}
"""
    )
    from dataclasses import replace

    from harness.analysis.frames import phase_windows

    other = replace(run, scenario=renamed, phases=phase_windows(renamed, {}, run.stats.spans()))
    assert baseline_phase(other) == "steady"
