"""Client-measured latency against the server's own duration for the same requests, matched by the op id
the Caller sends (X-Harness-Op-Id), directly and through a real `harness proxy`.

The embedded target logs no per-request duration yet (its audit log has security events only), so the
server here is a small one this test controls, which logs op id and its handling time: the question is
whether the harness's client-side measurement can be trusted, and that does not depend on which server."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import requests

from harness.clients import Caller, RetryPolicy
from harness.scenario.model import Retry
from tests.fidelity.servers import MemorySink, ServerLog, logging_server, proxy_in_front

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]
REQUESTS = 400
# loopback + requests' own cost on a shared 2-core machine; through the proxy one more hop each way
MEDIAN_GAP_MS = {"direct": 3.0, "proxy": 5.0}


def _measure(url: str) -> list[dict[str, object]]:
    sink = MemorySink()
    with requests.Session() as session:
        caller = Caller(session, RetryPolicy(Retry.model_validate({"stop": {"after_attempt": 1}})), sink,
                        user="u", node="fidelity", phase=lambda: "p")  # fmt: skip
        for _ in range(REQUESTS):
            caller.call("fidelity", "token", "POST", f"{url}/token", endpoint="token", data={"a": "b"})
    return sink.attempts


@pytest.mark.parametrize("path", ["direct", "proxy"])
def test_client_latency_is_never_below_server_time(path: str, tmp_path: Path) -> None:
    log = ServerLog(work_s=0.002)
    with logging_server(log) as url:
        if path == "direct":
            attempts = _measure(url)
        else:
            with proxy_in_front(url, tmp_path) as (_, proxied):
                attempts = _measure(proxied)
    assert len(attempts) == REQUESTS and all(a["status"] == 200 for a in attempts)
    gaps = []
    for a in attempts:
        server_ms = log.duration_ms[str(a["op_id"])]  # every request reached the server with its op id
        client_ms = float(a["latency_ms"])  # type: ignore[arg-type]
        assert client_ms >= server_ms, f"{a['op_id']}: client {client_ms:.3f} ms < server {server_ms:.3f} ms"
        gaps.append(client_ms - server_ms)
    median_gap = statistics.median(gaps)
    assert 0 < median_gap <= MEDIAN_GAP_MS[path], f"median client - server {median_gap:.2f} ms ({path})"
