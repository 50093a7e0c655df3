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


def _with_next_fault(run, start_offset: float):
    """The synthetic run with a second fault that takes effect `start_offset` s after the brownout's removal."""
    from dataclasses import replace

    (brownout,) = run.faults
    start = brownout.end + start_offset
    following = replace(brownout, id="recovery.0", phase="recovery", start=start, end=start + 5.0)
    return replace(run, faults=(brownout, following))


def test_a_fault_followed_at_once_by_the_next_has_no_time_to_recover(run_dir):
    """The complaint: a headline of 7.5 s that belonged to the next phase's fault. The recovery is watched
    until the next fault takes effect; with no time in between there is nothing to measure."""
    run = _with_next_fault(load_run(run_dir), 0.0)
    found = fault_recoveries(run)["brownout.0"]
    assert (found.time_to_recover_s, found.recovered) == (None, None)
    assert found.note is not None and "recovery.0" in found.note and "0.0 s after its removal" in found.note
    assert found.time_to_detect_s == 1.0  # detection lies inside the fault's own window: still measured


def test_the_recovery_window_ends_where_the_next_fault_begins(run_dir):
    run = _with_next_fault(load_run(run_dir), 5.0)
    found = fault_recoveries(run)["brownout.0"]
    assert (found.time_to_recover_s, found.recovered) == (2.0, True)
    assert found.window == (T0 + 20.0, T0 + 25.0)
    run = _with_next_fault(load_run(run_dir), 1.5)  # seconds 20 and 21 still fail: never healthy before 21.5
    found = fault_recoveries(run)["brownout.0"]
    assert (found.time_to_recover_s, found.recovered) == (1.5, False)


def test_time_to_recover_slo_and_headline_agree(run_dir):
    """The SLO and the report's headline read the same per-fault numbers: a fault without a measurable
    recovery counts in neither, and both name the same worst fault."""
    from harness.analysis.slo import evaluate_slos
    from harness.analysis.summary import summarize
    from harness.report.html import headline
    from harness.scenario import load_scenario_text

    base = _with_next_fault(load_run(run_dir), 0.0)
    ttr_slo = '"slos":[{"name":"ttr","metric":"time_to_recover_s","at_most":10},'
    scenario = load_scenario_text(base.scenario.model_dump_json().replace('"slos":[', ttr_slo, 1))
    from dataclasses import replace

    run = replace(base, scenario=scenario)
    recoveries = fault_recoveries(run)
    (ttr,) = [s for s in evaluate_slos(run, recoveries) if s.name == "ttr"]
    summary = summarize(run)
    worst = dict(headline(summary))
    (label,) = [k for k in worst if k.startswith("worst time to recover")]
    assert ttr.observed == recoveries["recovery.0"].time_to_recover_s
    assert worst[label] == f"{ttr.observed:g}" and "recovery.0" in label
    assert "not measured: brownout.0" in ttr.message
