import json
import math

import pytest

from harness.analysis.summary import build_summary, dumps, json_safe, write_summary
from tests.unit.analysis.synthetic import T0, write_run

# Golden values, worked out by hand from the timeline in synthetic.py.
# baseline: latencies 10..100 ms, ten of each -> p50 = (50 + 60) / 2 = 55, p95 = p99 = max = 100.
# brownout: 55 ok (second 10: 10..100 once; seconds 11..19: 10, 30, 50, 70, 90 nine times each) and
#           45 failed at 1000 ms -> sorted samples 49 and 50 are both 90, so p50 = 90; p90 and up = 1000.
# recovery: 90 ok, 10 failed; 90 + 10 * 3 = 120 attempts.


def test_run_facts_come_from_the_journal(run_dir):
    summary = build_summary(run_dir)
    assert summary["schema_version"] == 2
    assert summary["run_id"] == "20261128T041500Z-synthetic"
    assert summary["scenario"]["name"] == "synthetic"
    assert summary["scenario"]["description"].startswith("Half of the token calls")
    # the journal says the run ended normally; its SLOs decide the rest, as `harness run` exits
    assert (summary["status"], summary["exit_code"], summary["verdict"]) == ("failed", 1, "fail")
    assert (summary["complete"], summary["notes"]) == (True, [])
    assert summary["duration_s"] == 38.0
    assert summary["test_start"] == T0
    assert summary["phase_order"] == ["baseline", "brownout", "recovery", "cooldown"]
    assert summary["baseline_phase"] == "baseline"


def test_phase_numbers(run_dir):
    phases = build_summary(run_dir)["phases"]
    baseline, brownout, recovery, cooldown = (phases[n] for n in ("baseline", "brownout", "recovery", "cooldown"))

    assert (baseline["operations"], baseline["attempts"]) == (100, 100)
    assert baseline["availability"]["operation"] == 1.0
    assert baseline["latency_ms"]["operation"] == {"p50": 55.0, "p90": pytest.approx(91.0), "p95": 100.0,
                                                   "p99": 100.0, "p99.9": 100.0, "max": 100.0}  # fmt: skip
    assert baseline["throughput_ops"] == 10.0
    assert baseline["vs_baseline"] is None

    assert (brownout["operations"], brownout["attempts"]) == (100, 190)
    assert brownout["availability"]["operation"] == 0.55
    assert brownout["availability"]["attempt"] == pytest.approx(55 / 190)
    assert brownout["availability"]["operation_interval"] == pytest.approx([0.452446, 0.643855], abs=1e-6)
    assert brownout["latency_ms"]["operation"]["p50"] == 90.0
    assert brownout["latency_ms"]["operation"]["p99"] == 1000.0
    assert brownout["latency_ms"]["attempt"]["p50"] == 5.0
    assert brownout["attempts_per_operation"] == 1.9
    assert brownout["give_up_rate"] == 0.45
    assert brownout["outcomes"] == {"http_5xx": 45, "ok": 55}
    assert brownout["attempt_outcomes"] == {"http_5xx": 135, "ok": 55}
    assert brownout["faults"][0]["label"] == "http_error 503 p=0.5 token"
    assert brownout["vs_baseline"]["availability"]["difference"] == pytest.approx(-0.45)
    assert brownout["vs_baseline"]["latency"]["cliffs_delta"] > 0

    assert (recovery["operations"], recovery["attempts"]) == (100, 120)
    assert recovery["availability"]["operation"] == 0.9
    assert recovery["attempts_per_operation"] == pytest.approx(1.2)

    assert (cooldown["operations"], cooldown["attempts"], cooldown["throughput_ops"]) == (0, 0, 0.0)
    assert cooldown["availability"]["operation"] is None
    assert cooldown["latency_ms"]["operation"]["p99"] is None


def test_faults_and_totals(run_dir):
    summary = build_summary(run_dir)
    (fault,) = summary["faults"]
    assert fault["id"] == "brownout.0"
    assert (fault["type"], fault["phase"]) == ("http_error", "brownout")
    assert (fault["applied_at"], fault["removed_at"]) == (T0 + 10, T0 + 20)
    assert fault["lateness_ms"] == pytest.approx(10.0, abs=1e-3)
    assert (fault["time_to_detect_s"], fault["time_to_recover_s"], fault["recovered"]) == (1.0, 2.0, True)
    totals = summary["totals"]
    assert (totals["operations"], totals["attempts"], totals["unauthorized_accepted"]) == (300, 410, 0)
    assert totals["availability"]["operation"] == pytest.approx(245 / 300)


def test_slo_verdicts(run_dir):
    summary = build_summary(run_dir)
    verdicts = {s["name"]: (s["verdict"], s["observed"]) for s in summary["slos"]}
    assert verdicts == {
        "availability": ("pass", 0.95),
        "brownout-availability": ("fail", 0.55),
        "p99": ("pass", 100.0),
        "recovery": ("pass", 2.0),
        "retry-amplification": ("fail", 1.9),
        "fail-closed": ("pass", 0.0),
        "cooldown-p95": ("no_data", None),
    }
    assert summary["verdict"] == "fail"
    first = summary["slos"][0]
    assert first["interval"] == pytest.approx([0.910422, 0.972617], abs=1e-6)
    assert first["phases"] == ["baseline", "recovery"]
    assert first["threshold"] == {"at_least": 0.9}


def test_summary_json_is_nan_free_sorted_and_stable(run_dir):
    path = write_summary(build_summary(run_dir), run_dir)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert list(parsed) == sorted(parsed)
    assert dumps(build_summary(run_dir)) == text


def test_a_run_that_died_before_load_still_has_a_summary(tmp_path):
    summary = build_summary(write_run(tmp_path, records=False, status="crashed"))
    assert summary["complete"] is False
    assert any("did not finish" in n for n in summary["notes"])
    assert any("no records" in n for n in summary["notes"])
    assert {s["verdict"] for s in summary["slos"]} == {"no_data"}
    assert summary["verdict"] == "fail"
    assert summary["totals"]["operations"] == 0
    assert summary["faults"][0]["recovered"] is None
    dumps(summary)  # still strict JSON


def test_json_safe_turns_nan_and_numpy_into_plain_json():
    import numpy as np

    assert json_safe({"a": np.float64("nan"), "b": (np.int64(3), math.inf), 4: np.bool_(True)}) == {
        "a": None,
        "b": [3, None],
        "4": True,
    }


def test_notes_say_what_an_sre_must_know_first(tmp_path):
    """An aborted run, a service unhealthy before the experiment, a deviation and a lost worker each
    get a plain sentence at the top of the report."""
    run_dir = write_run(tmp_path, status="aborted")
    journal = json.loads((run_dir / "journal.json").read_text())
    journal["stop_condition"] = {"condition": "idp-down", "observed": 0.12, "samples": 80}
    journal["steady_state"] = {"before": {"ok": False, "detail": "0/5 token requests succeeded"},
                               "after": {"ok": False, "detail": "0/5"}}
    journal["events"] = [{"ts": T0 + 5, "kind": "worker_lost", "detail": "worker w2 stopped answering"}]
    (run_dir / "journal.json").write_text(json.dumps(journal))
    notes = build_summary(run_dir)["notes"]
    assert any("stop condition idp-down: observed 0.12 over 80 records" in n for n in notes)
    assert any("not healthy before the experiment: 0/5 token requests succeeded" in n for n in notes)
    assert any("worker w2 stopped answering" in n for n in notes)
