"""Summary v2 parts, on the synthetic run of synthetic.py (numbers by hand there)."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.analysis.summary import build_summary
from tests.unit.analysis.synthetic import T0


def rows(summary, scope, phase):
    return {(r["flow"], r["step"]): r for r in summary["breakdown"][scope] if r["phase"] == phase}


def test_breakdown_per_phase_flow_and_step_at_both_scopes(run_dir):
    summary = build_summary(run_dir)
    brownout = rows(summary, "operation", "brownout")[("client_credentials", "token")]
    assert brownout["count"] == 100
    assert brownout["availability"] == 0.55
    assert brownout["throughput_per_s"] == 10.0
    assert brownout["attempts_per_operation"] == 1.9
    assert brownout["statuses"] == {"200": 55, "503": 45}
    assert brownout["backoff_share"] == pytest.approx(45 * 200 / brownout_latency_sum())
    assert brownout["open_loop_latency_ms"] is None
    attempts = rows(summary, "attempt", "brownout")[("client_credentials", "token")]
    assert (attempts["count"], attempts["outcomes"]) == (190, {"http_5xx": 135, "ok": 55})
    whole = rows(summary, "operation", None)[("client_credentials", "token")]
    assert whole["count"] == 300
    assert whole["throughput_per_s"] == pytest.approx(300 / 35)


def brownout_latency_sum():
    ok = 10 * sum(range(1, 11)) + 9 * (10 + 30 + 50 + 70 + 90)
    return ok + 45 * 1000.0


def test_error_budget_per_availability_slo(run_dir):
    budgets = {b["slo"]: b for b in build_summary(run_dir)["error_budgets"]}
    assert set(budgets) == {"availability", "brownout-availability"}
    assert budgets["availability"]["burned"] == pytest.approx(10 / 20)
    assert budgets["brownout-availability"]["burned"] == pytest.approx(45 / 1)


def test_injected_rate_not_measured_without_a_snapshot(run_dir):
    summary = build_summary(run_dir)
    (fault,) = summary["faults"]
    assert summary["proxy_counters"]["measured"] is False
    assert (fault["configured_rate"], fault["injected"]) == (0.5, None)


def test_injected_rate_from_the_proxy_snapshot(run_dir):
    (run_dir / "proxy-metrics.txt").write_text(
        'harness_proxy_toxic_requests_matched_total{proxy="sso",toxic="harness-brownout-0",type="http_error"} 190\n'
        'harness_proxy_toxic_faults_injected_total{proxy="sso",toxic="harness-brownout-0",type="http_error"} 95\n'
    )
    summary = build_summary(run_dir)
    assert summary["proxy_counters"]["measured"] is True
    assert summary["faults"][0]["injected"]["rate"] == 0.5


def test_vs_baseline_has_bootstrap_intervals(run_dir):
    vs = build_summary(run_dir)["phases"]["brownout"]["vs_baseline"]
    low, high = vs["availability"]["interval"]
    assert low < -0.45 < high < 0
    p50 = vs["latency"]["percentile_differences_ms"]["p50"]
    assert p50["interval"][0] <= p50["difference"] <= p50["interval"][1]
    p99 = vs["latency"]["percentile_differences_ms"]["p99"]
    assert p99["difference"] == 900.0
    assert p99["interval"] is None  # one sample beyond the p99 of 100: no valid bootstrap


def test_journey_records_stay_out_of_availability_but_get_their_own_rows(run_dir):
    journey = pd.DataFrame(
        {
            "ts": [T0 + 1.0], "op_id": ["j1"], "flow": ["client_credentials"], "step": ["journey"],
            "attempts": [1], "outcome": ["http_5xx"], "status": [503], "latency_ms": [5000.0],
            "backoff_ms": [0.0], "phase": ["baseline"], "user": ["u1"], "node": ["n1"], "intended_ts": [None],
        }
    )  # fmt: skip
    from harness.records import OPERATION_SCHEMA

    table = pa.Table.from_pandas(journey, schema=OPERATION_SCHEMA, preserve_index=False)
    pq.write_table(table, run_dir / "records" / "operations-n2-000001.parquet")
    summary = build_summary(run_dir)
    assert summary["phases"]["baseline"]["availability"]["operation"] == 1.0
    assert summary["totals"]["journeys"] == 1
    assert rows(summary, "operation", "baseline")[("client_credentials", "journey")]["count"] == 1
