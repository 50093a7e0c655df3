"""The share of 503s clients observe in an http_error fault equals the share the proxy says it injected
(within 2 percentage points over >= 5,000 requests), and both match the configured probability."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from harness.analysis.proxy_counters import parse_toxic_counters
from harness.clients import Caller, RetryPolicy
from harness.faults import FaultApplier
from harness.faults.http_error import HttpErrorFault
from harness.scenario.model import Retry
from tests.fidelity.servers import MemorySink, ServerLog, logging_server, proxy_in_front

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
THREADS, PER_THREAD = 2, 2600
PROBABILITY = 0.3


def test_client_503_share_matches_the_injected_share(tmp_path: Path) -> None:
    sink = MemorySink()
    policy = RetryPolicy(Retry.model_validate({"stop": {"after_attempt": 1}}))  # one attempt: no retry noise
    fault = HttpErrorFault.model_validate(
        {"type": "http_error", "endpoint": "token", "status": 503, "probability": PROBABILITY}
    )

    def user(url: str) -> None:
        with requests.Session() as session:
            caller = Caller(session, policy, sink, user="u", node="fidelity", phase=lambda: "brownout")
            for _ in range(PER_THREAD):
                caller.call("fidelity", "token", "POST", f"{url}/token", endpoint="token", data={"a": "b"})

    with logging_server(ServerLog()) as upstream, proxy_in_front(upstream, tmp_path) as (client, url):
        FaultApplier(client, "fid").apply(fault, "brownout-503")
        threads = [threading.Thread(target=user, args=(url,)) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        counters = parse_toxic_counters(client.metrics())["brownout-503"]
    statuses = [a["status"] for a in sink.attempts]
    assert len(statuses) == THREADS * PER_THREAD >= 5000
    assert set(statuses) <= {200, 503}
    observed = statuses.count(503) / len(statuses)
    assert counters.requests_matched == len(statuses)  # the proxy saw every request the clients recorded
    assert counters.rate is not None
    assert abs(observed - counters.rate) <= 0.02, f"clients saw {observed:.4f}, proxy injected {counters.rate:.4f}"
    assert statuses.count(503) == counters.faults_injected  # in fact exactly: each injected 503 was seen once
    assert abs(observed - PROBABILITY) <= 0.02
