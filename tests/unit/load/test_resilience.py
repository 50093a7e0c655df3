"""The Resilience tab's table lays out the orchestrator's live figures as they are worded there."""

from __future__ import annotations

from harness.load.resilience import rows
from harness.scenario import load_scenario_text

SCENARIO = load_scenario_text("""
name: t
phases:
  - {name: baseline, duration_s: 5}
  - {name: brownout, duration_s: 5, faults: [{type: http_error, endpoint: token, status: 503}]}
""")


def table(found):
    return {(r["section"], r["name"]): r["value"] for r in found}


def test_before_any_test_the_plan_shows() -> None:
    found = table(rows(SCENARIO, None, "ready"))
    assert found[("now", "test")].startswith("none yet")
    assert ("plan", "fault brownout.0") in found


def test_live_figures_are_shown_as_the_orchestrator_worded_them() -> None:
    live = {
        "run_id": "20261205T000000Z-t", "scenario": "t", "latest": {"phase": "brownout"},
        "faults": [{"name": "brownout.0", "label": "http_error 503 token", "end_s": None}],
        "display": {"window": "last 5 s of records", "rate": "41.8 req/s (30 operations/s)",
                    "availability_operation": "99% [97%, 99.7%]", "availability_attempt": "86.1%",
                    "p95": "312.4 ms", "slos": [{"name": "a", "text": "VIOLATED 97% (objective ≥ 98%)",
                                                 "objective": "≥ 98% over brownout"}]},
        "ended": {"text": "harness: verdict FAIL", "report": "/r/report.html"},
    }  # fmt: skip
    found = table(rows(SCENARIO, live, "running", ["w2"]))
    assert found[("now", "phase")] == "brownout"
    assert found[("now", "active faults")] == "brownout.0 (http_error 503 token)"
    assert found[("last 5 s of records", "availability (operations)")] == "99% [97%, 99.7%]"
    assert found[("slo so far", "a")] == "VIOLATED 97% (objective ≥ 98%); objective ≥ 98% over brownout"
    assert found[("result", "report")] == "/r/report.html"
    assert found[("now", "workers lost")] == "w2"
