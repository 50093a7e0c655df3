from __future__ import annotations

import pytest

from harness.faults import toxic_spec
from harness.scenario.model import HttpErrorFault, LatencyFault


def test_http_error_on_an_endpoint_matches_its_path_exactly() -> None:
    spec = toxic_spec(HttpErrorFault(type="http_error", endpoint="token", probability=0.3, retry_after_s=1), "t1")
    assert spec["type"] == "http_error" and spec["stream"] == "upstream"
    assert spec["attributes"] == {
        "method": "",
        "path": "/token",
        "match": "exact",
        "status": 503,
        "probability": 0.3,
        "retry_after": 1,
    }


def test_latency_without_a_target_is_the_tcp_toxic() -> None:
    spec = toxic_spec(LatencyFault(type="latency", latency_ms=200, jitter_ms=20), "t2")
    assert spec == {
        "name": "t2",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 200, "jitter": 20},
    }


def test_latency_on_a_path_is_per_request() -> None:
    spec = toxic_spec(LatencyFault(type="latency", latency_ms=50, path="/oauth", match="prefix"), "t3")
    assert spec["type"] == "http_latency"
    assert spec["attributes"]["path"] == "/oauth" and spec["attributes"]["match"] == "prefix"


def test_unknown_type_lists_the_known_ones() -> None:
    class Odd:
        type = "meteor"

    with pytest.raises(ValueError, match=r"unknown fault type 'meteor' \(known: bandwidth, .*http_error, .*latency"):
        toxic_spec(Odd(), "x")
