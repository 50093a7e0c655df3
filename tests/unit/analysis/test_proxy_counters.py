from harness.analysis.proxy_counters import ToxicCount, parse_toxic_counters, read_toxic_counters

TEXT = """# HELP harness_proxy_requests_total HTTP requests seen from clients.
# TYPE harness_proxy_requests_total counter
harness_proxy_requests_total{proxy="sso"} 1200
# TYPE harness_proxy_toxic_requests_matched_total counter
harness_proxy_toxic_requests_matched_total{proxy="sso",toxic="harness-brownout-0",type="http_error"} 400
harness_proxy_toxic_requests_matched_total{proxy="sso",toxic="harness-slow-0",type="latency"} 0
harness_proxy_toxic_faults_injected_total{proxy="sso",toxic="harness-brownout-0",type="http_error"} 118
harness_proxy_toxic_faults_injected_total{proxy="sso",toxic="harness-slow-0",type="latency"} 950
harness_proxy_toxic_faults_skipped_total{proxy="sso",toxic="harness-brownout-0",type="http_error"} 2
"""


def test_counters_by_toxic_with_the_injected_rate():
    found = parse_toxic_counters(TEXT)
    assert found["harness-brownout-0"] == ToxicCount(requests_matched=400, faults_injected=118, faults_skipped=2)
    assert found["harness-brownout-0"].rate == 118 / 400
    assert found["harness-slow-0"].rate is None  # a TCP toxic matches no request: no rate


def test_no_snapshot_is_not_measured(tmp_path):
    assert read_toxic_counters(tmp_path) is None
    (tmp_path / "proxy-metrics.txt").write_text(TEXT)
    counters = read_toxic_counters(tmp_path)
    assert counters is not None
    assert counters["harness-brownout-0"].faults_injected == 118
