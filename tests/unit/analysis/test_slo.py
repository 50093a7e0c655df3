from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.frames import FaultWindow, PhaseWindow, Run
from harness.analysis.metrics import Recovery, in_flight_note
from harness.analysis.slo import evaluate_slo
from harness.errors import ScenarioError
from harness.scenario import load_scenario_text
from harness.scenario.model import Slo
from tests.unit.analysis.synthetic import run_of

T0 = 1000.0


@pytest.fixture
def make_run(tmp_path):
    made = iter(range(1000))
    return lambda *a, **k: _make_run(tmp_path / f"run{next(made)}", *a, **k)


def _make_run(root: Path, slos_yaml: str, operations, attempts=None, faults=(), fault_in_brownout=True) -> Run:
    brownout_faults = "[{type: http_error, endpoint: token}]" if fault_in_brownout else "[]"
    scenario = load_scenario_text(
        f"""
name: t
phases:
  - {{name: baseline, duration_s: 10}}
  - {{name: brownout, duration_s: 10, faults: {brownout_faults}}}
slos: {slos_yaml}
"""
    )
    ops = pd.DataFrame(operations, columns=["ts", "phase", "outcome", "latency_ms", "attempts"])
    att = pd.DataFrame(attempts or [], columns=["ts", "phase", "outcome", "latency_ms"])
    phases = (
        PhaseWindow("baseline", 10, (), T0, T0 + 10),
        PhaseWindow("brownout", 10, ({"type": "http_error"},) if fault_in_brownout else (), T0 + 10, T0 + 20),
    )
    return run_of(root, scenario, ops, att, phases, tuple(faults), T0, T0 + 20)


def fault(fid: str, phase: str) -> FaultWindow:
    return FaultWindow(fid, phase, "http_error", {}, "http_error", None, None, None, None, None, T0 + 10, T0 + 20)


OPS = [
    (T0 + 1, "baseline", "ok", 10.0, 1),
    (T0 + 2, "baseline", "ok", 30.0, 1),
    (T0 + 11, "brownout", "ok", 100.0, 2),
    (T0 + 12, "brownout", "http_5xx", 900.0, 4),
]


def only(run: Run):
    (slo,) = run.scenario.slos
    return slo


def test_availability_passes_at_the_bound_and_reports_the_wilson_interval(make_run):
    run = make_run("[{name: a, metric: availability, phases: [brownout], at_least: 0.5}]", OPS)
    result = evaluate_slo(only(run), run, {})
    assert (result.verdict, result.observed, result.scope) == ("pass", 0.5, "operation")
    assert result.interval == pytest.approx((0.0945, 0.9055), abs=1e-4)
    assert result.message == (
        "observed 0.5, objective at least 0.5 over phases brownout; the 95% interval reaches across the "
        "objective, so this verdict is not conclusive"
    )
    assert (result.interval_method, result.crosses_threshold, result.conclusive) == ("wilson", True, False)
    assert result.as_dict()["threshold"] == {"at_least": 0.5}


def test_error_rate_and_latency_and_amplification(make_run):
    run = make_run(
        """[{name: e, metric: error_rate, at_most: 0.2},
            {name: p, metric: latency_max_ms, phases: [baseline], at_most: 30},
            {name: r, metric: attempts_per_operation, phases: [brownout], at_most: 2.5},
            {name: t, metric: throughput_ops, at_least: 0.2}]""",
        OPS,
    )
    results = {s.name: evaluate_slo(s, run, {}) for s in run.scenario.slos}
    assert (results["e"].verdict, results["e"].observed) == ("fail", 0.25)
    assert "over all phases" in results["e"].message
    assert (results["p"].verdict, results["p"].observed) == ("pass", 30.0)
    assert (results["r"].verdict, results["r"].observed) == ("fail", 3.0)
    assert (results["t"].verdict, results["t"].observed) == ("pass", 0.2)  # 4 operations in 20 s


def test_attempt_scope_reads_attempt_records(make_run):
    attempts = [(T0 + 1, "baseline", "ok", 5.0), (T0 + 11, "brownout", "http_5xx", 5.0)]
    run = make_run("[{name: a, metric: availability, scope: attempt, at_least: 0.9}]", OPS, attempts)
    result = evaluate_slo(only(run), run, {})
    assert (result.verdict, result.observed, result.scope) == ("fail", 0.5, "attempt")


def test_nothing_in_scope_is_no_data_and_says_it_is_not_a_pass(make_run):
    run = make_run("[{name: a, metric: latency_p99_ms, scope: attempt, at_most: 100}]", OPS)
    result = evaluate_slo(only(run), run, {})
    assert result.verdict == "no_data" and not result.passed
    assert result.observed is None
    assert result.message.startswith("no data: no attempt latency samples over all phases")
    assert "did not pass" in result.message


def test_unauthorized_accepted_counts_security_violations(make_run):
    attempts = [(T0 + 1, "baseline", "ok", 5.0), (T0 + 11, "brownout", "security_violation", 5.0)]
    run = make_run("[{name: f, metric: unauthorized_accepted, at_most: 0}]", OPS, attempts)
    result = evaluate_slo(only(run), run, {})
    assert (result.verdict, result.observed, result.scope) == ("fail", 1.0, "attempt")


def test_time_to_recover_is_the_worst_fault_in_the_named_phases(make_run):
    run = make_run(
        "[{name: r, metric: time_to_recover_s, phases: [brownout], at_most: 5}]",
        OPS,
        faults=[fault("a", "brownout"), fault("b", "brownout"), fault("c", "baseline")],
    )
    recoveries = {"a": Recovery(1.0, 2.0, True), "b": Recovery(0.0, 7.0, False), "c": Recovery(0, 99.0, True)}
    result = evaluate_slo(only(run), run, recoveries)
    assert (result.verdict, result.observed) == ("fail", 7.0)


def test_time_to_recover_without_faults_is_zero(make_run):
    run = make_run("[{name: r, metric: time_to_recover_s, at_most: 5}]", OPS, fault_in_brownout=False)
    result = evaluate_slo(only(run), run, {})
    assert (result.verdict, result.observed) == ("pass", 0.0)


def test_time_to_recover_of_planned_faults_never_applied_is_no_data(make_run):
    run = make_run("[{name: r, metric: time_to_recover_s, at_most: 5}]", OPS)
    result = evaluate_slo(only(run), run, {})
    assert result.verdict == "no_data"
    assert "none was applied" in result.message


def test_time_to_recover_without_a_baseline_is_no_data(make_run):
    run = make_run("[{name: r, metric: time_to_recover_s, at_most: 5}]", OPS, faults=[fault("a", "brownout")])
    result = evaluate_slo(only(run), run, {"a": Recovery(None, None, None)})
    assert result.verdict == "no_data"


def test_every_metric_of_the_model_has_a_measure():
    from typing import get_args

    from harness.analysis.slo import _MEASURES
    from harness.scenario.model import Metric

    assert set(get_args(Metric)) == set(_MEASURES)
    assert Slo is not None  # the model the SLOs come from


def test_an_slo_naming_flows_judges_only_their_records(tmp_path):
    scenario = load_scenario_text(
        """
name: t
flows:
  - {flow: jwks_validation}
  - {flow: jwks_validation, name: strict-rp, leeway_s: 0}
phases:
  - {name: skew, duration_s: 10, faults: [{type: target_clock_skew, skew_s: -3620}]}
slos:
  - {name: lenient, metric: availability, flows: [jwks_validation], at_least: 0.99}
  - {name: strict, metric: availability, flows: [strict-rp], at_least: 0.99}
  - {name: both, metric: availability, at_least: 0.99}
"""
    )
    ops = pd.DataFrame(
        [(T0 + 1, "skew", "jwks_validation", "ok", 5.0, 1), (T0 + 2, "skew", "jwks_validation", "ok", 5.0, 1),
         (T0 + 3, "skew", "strict-rp", "protocol_error", 5.0, 1), (T0 + 4, "skew", "strict-rp", "ok", 5.0, 1)],
        columns=["ts", "phase", "flow", "outcome", "latency_ms", "attempts"],
    )  # fmt: skip
    phases = (PhaseWindow("skew", 10, ({"type": "target_clock_skew"},), T0, T0 + 10),)
    run = run_of(tmp_path, scenario, ops, ops.iloc[:0], phases, (), T0, T0 + 10)
    results = {slo.name: evaluate_slo(slo, run, {}) for slo in scenario.slos}
    assert (results["lenient"].verdict, results["lenient"].observed) == ("pass", 1.0)
    assert (results["strict"].verdict, results["strict"].observed) == ("fail", 0.5)
    assert results["both"].observed == 0.75
    assert results["strict"].message.endswith("over all phases, flows strict-rp")


def test_an_slo_naming_steps_judges_only_their_records(make_run, tmp_path):
    run = make_run("[{name: a, metric: availability, steps: [verify], at_least: 0.99}]", [])
    ops = pd.DataFrame(
        [(T0 + 1, "brownout", "verify", "ok", 1.0, 1), (T0 + 2, "brownout", "jwks", "reset", 9.0, 3)],
        columns=["ts", "phase", "step", "outcome", "latency_ms", "attempts"],
    )
    run = run_of(tmp_path / "steps", run.scenario, ops, ops.iloc[:0], run.phases, (), T0, T0 + 20)
    result = evaluate_slo(only(run), run, {})
    assert (result.verdict, result.observed) == ("pass", 1.0)
    assert "over all phases, steps verify;" in result.message


def test_an_slo_naming_a_flow_not_in_the_mix_is_refused_at_its_line():
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("name: t\nphases: [{name: a, duration_s: 1}]\nslos:\n"
                           "  - {name: x, metric: availability, flows: [nope], at_least: 0.9}\n", "s.yaml")  # fmt: skip
    (problem,) = caught.value.problems
    assert str(problem).startswith("s.yaml:4: slos.0.flows.0: no flow named 'nope'")


STRADDLING = [
    (T0 + 1, "baseline", "ok", 10.0, 1),
    (T0 + 2, "baseline", "ok", 30.0, 1),
    (T0 + 9.9, "baseline", "http_5xx", 900.0, 4),  # still running at T0 + 10, when the brownout began
    (T0 + 11, "brownout", "ok", 100.0, 2),
]


def test_an_slo_may_leave_out_records_still_in_flight_at_the_end_of_their_phase(make_run):
    slo = "[{name: base, metric: availability, phases: [baseline], in_flight_at_end: exclude, at_least: 1}]"
    run = make_run(slo, STRADDLING)
    result = evaluate_slo(only(run), run, {})
    assert (result.verdict, result.observed, result.excluded_in_flight) == ("pass", 1.0, 1)
    assert "1 record still in flight at the end of phase baseline left out" in result.message
    assert result.as_dict()["excluded_in_flight"] == 1
    assert result.as_dict()["in_flight_at_end"] == "exclude"


def test_by_default_records_in_flight_at_the_end_of_their_phase_count(make_run):
    run = make_run("[{name: base, metric: availability, phases: [baseline], at_least: 1}]", STRADDLING)
    result = evaluate_slo(only(run), run, {})
    assert result.verdict == "fail" and result.observed == pytest.approx(2 / 3)
    assert result.excluded_in_flight is None and "in flight" not in result.message


def test_an_slo_over_a_phase_without_an_end_says_nothing_could_be_left_out(make_run, tmp_path):
    slo = "[{name: all, metric: availability, in_flight_at_end: exclude, at_least: 0.5}]"
    run = make_run(slo, STRADDLING)
    run.stats.set_phase_ends({"baseline": T0 + 10})  # brownout still running: no end yet
    result = evaluate_slo(only(run), run, {})
    assert result.excluded_in_flight == 1
    assert "1 record still in flight at the end of phase baseline left out" in result.message
    assert "phase brownout has not ended: none of its records left out" in result.message


def test_the_in_flight_note_names_each_phase_of_a_many_phase_slo():
    assert in_flight_note(None) == ""
    assert in_flight_note({"a": 2, "b": 1}) == "3 records still in flight at the end of their phase left out (a 2, b 1)"
    assert in_flight_note({"a": 0}) == "0 records still in flight at the end of phase a left out"
    assert in_flight_note({}) == "0 records still in flight at the end of their phase left out"
