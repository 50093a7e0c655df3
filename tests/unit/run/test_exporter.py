"""harness.run.exporter: what a Prometheus scraping /metrics reads, parsed with prometheus_client's own text
parser; and the Grafana dashboard, which must draw only metrics the exporter serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.run.exporter import BUCKETS_S, LiveMetrics

DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana" / "harness-live.json"


def records(rows: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    keys = ("phase", "flow", "step", "outcome", "latency_ms")
    return pd.DataFrame([{"ts": 1000.0 + i, **dict(zip(keys, row, strict=True))} for i, row in enumerate(rows)])


def scrape(metrics: LiveMetrics) -> dict[str, list[Any]]:
    """Every sample by its name, as the parser gives them."""
    text = generate_latest(metrics.registry).decode()
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    (match,) = [s for s in samples[name] if all(s.labels.get(k) == v for k, v in labels.items())]
    return float(match.value)


def test_counters_and_histograms_by_phase_flow_step_and_outcome_accumulate_across_shards() -> None:
    metrics = LiveMetrics("r1", "soak")
    metrics.add_records("operations", records([("baseline", "cc", "token", "ok", 4.0),
                                               ("baseline", "cc", "token", "ok", 300.0),
                                               ("brownout", "cc", "token", "http_5xx", 20.0)]))  # fmt: skip
    metrics.add_records("operations", records([("baseline", "cc", "token", "ok", 1200.0)]))
    metrics.add_records("attempts", records([("brownout", "cc", "token", "http_5xx", 20.0)] * 3))
    samples = scrape(metrics)
    ok = {"phase": "baseline", "flow": "cc", "step": "token", "outcome": "ok"}
    assert value(samples, "harness_operations_total", **ok) == 3
    assert value(samples, "harness_operations_total", phase="brownout", outcome="http_5xx") == 1
    assert value(samples, "harness_attempts_total", phase="brownout", outcome="http_5xx") == 3
    # cumulative buckets: 4 ms <= 5 ms, 300 ms <= 0.5 s, 1.2 s <= 2.5 s; +Inf holds all three
    assert value(samples, "harness_operation_latency_seconds_bucket", le="0.005", **ok) == 1
    assert value(samples, "harness_operation_latency_seconds_bucket", le="0.25", **ok) == 1
    assert value(samples, "harness_operation_latency_seconds_bucket", le="0.5", **ok) == 2
    assert value(samples, "harness_operation_latency_seconds_bucket", le="2.5", **ok) == 3
    assert value(samples, "harness_operation_latency_seconds_bucket", le="+Inf", **ok) == 3
    assert value(samples, "harness_operation_latency_seconds_count", **ok) == 3
    assert abs(value(samples, "harness_operation_latency_seconds_sum", **ok) - 1.504) < 1e-9
    assert len([s for s in samples["harness_operation_latency_seconds_bucket"] if s.labels == {**ok, "le": "1"}]) == 1
    assert len(BUCKETS_S) + 1 == len([s for s in samples["harness_attempt_latency_seconds_bucket"]])


def test_active_faults_are_a_gauge_with_their_labels_and_drop_to_zero_when_removed() -> None:
    metrics = LiveMetrics("r1", "soak")
    journal = {"faults": [
        {"id": "p1-f0", "type": "http_error", "phase": "brownout", "spec": {"status": 503, "probability": 0.5},
         "applied_at": 10.0, "removed_at": None},
        {"id": "p0-f0", "type": "latency", "phase": "baseline", "spec": {"latency_ms": 200},
         "applied_at": 1.0, "removed_at": 5.0},
        {"id": "p2-f0", "type": "latency", "phase": "later", "spec": {}, "applied_at": None, "removed_at": None},
    ]}  # fmt: skip
    metrics.update(journal, "brownout", [], None)
    samples = scrape(metrics)
    active = {s.labels["fault_id"]: s for s in samples["harness_fault_active"]}
    assert set(active) == {"p1-f0", "p0-f0"}  # a fault not applied yet is not shown
    assert active["p1-f0"].value == 1 and active["p1-f0"].labels["type"] == "http_error"
    assert active["p1-f0"].labels["phase"] == "brownout" and "503" in active["p1-f0"].labels["label"]
    assert active["p0-f0"].value == 0
    assert value(samples, "harness_phase", phase="brownout") == 1


def test_slo_states_are_the_live_judgement_given_one_state_at_a_time() -> None:
    metrics = LiveMetrics("r1", "soak")
    slos: list[dict[str, Any]] = [{"name": "steady", "metric": "availability", "state": "holding", "observed": 0.999},
            {"name": "recover", "metric": "time_to_recover_s", "state": "pending", "observed": None}]  # fmt: skip
    metrics.update({}, "baseline", slos, 1234.5)
    samples = scrape(metrics)
    assert value(samples, "harness_slo_state", slo="steady", state="holding") == 1
    assert value(samples, "harness_slo_state", slo="steady", state="violated") == 0
    assert value(samples, "harness_slo_state", slo="recover", state="pending") == 1
    assert value(samples, "harness_slo_observed", slo="steady") == 0.999
    assert [s.labels["slo"] for s in samples["harness_slo_observed"]] == ["steady"]  # nothing observed: no sample
    assert value(samples, "harness_slo_judged_timestamp_seconds") == 1234.5
    assert value(samples, "harness_run_info", run_id="r1", scenario="soak") == 1


def test_grafana_dashboard_parses_and_draws_only_metrics_the_exporter_serves() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    metrics = LiveMetrics("r1", "soak")
    metrics.add_records("operations", records([("baseline", "cc", "token", "ok", 4.0)]))
    metrics.add_records("attempts", records([("baseline", "cc", "token", "ok", 4.0)]))
    slos: list[dict[str, Any]] = [{"name": "s", "metric": "availability", "state": "holding", "observed": 1.0}]
    metrics.update({"faults": [{"id": "f", "type": "latency", "phase": "p", "applied_at": 1.0}]}, "p", slos, 1.0)
    served = set(scrape(metrics))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    used = {name for expr in exprs for name in re.findall(r"\bharness_[a-z_]+", expr)}
    assert used and used <= served, used - served
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    assert "availability" in titles and "p95" in titles and "attempts per operation" in titles
    (faults,) = [a for a in dashboard["annotations"]["list"] if a.get("name") == "Fault windows"]
    assert "harness_fault_active" in faults["expr"]
