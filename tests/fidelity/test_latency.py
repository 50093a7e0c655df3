"""Client-measured latency against the embedded target's own duration for the same requests, matched by the
op id the Caller sends (X-Harness-Op-Id) and the target logs (--request-log), directly and through a real
`harness proxy`.

The target's `duration_ms` runs from its app receiving the request (headers parsed) to the last body bytes
handed to the server for writing; the client's from before the request is built to the body read. So the
client's interval contains the server's, and the difference is the client library (requests: build, send,
parse), the HTTP parser on both sides and the loopback hops: through the proxy, two more hops and the
proxy's read-and-forward each way. Durations, not timestamps, are compared: no clock sync is involved.

Seen on the shared 2-core machine: a median gap of 0.7-1.0 ms direct and 0.8-0.9 ms through the proxy
(the proxy's share, ~0.1 ms, is below the run-to-run noise, so the test does not order the two), and up
to 1.5 and 2.9 ms while other suites ran. The bounds leave headroom for such a loaded machine and still
catch a per-request cost the harness would add to what it reports: a delayed ACK (40 ms), a new
connection per request, a DNS lookup."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import requests

from harness.clients import Caller, RetryPolicy
from harness.contract import AttemptRow
from harness.scenario.model import Retry
from tests.fidelity.servers import MemorySink, Target, proxy_in_front, target_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]
REQUESTS = 300
MEDIAN_GAP_MS = {"direct": 4.0, "proxy": 6.0}
CC = {"grant_type": "client_credentials"}


def _measure(target: Target, url: str) -> list[AttemptRow]:
    sink = MemorySink()
    auth = (target.client_id, target.client_secret)
    with requests.Session() as session:
        caller = Caller(session, RetryPolicy(Retry.model_validate({"stop": {"after_attempt": 1}})), sink,
                        user="u", node="fidelity", phase=lambda: "p")  # fmt: skip
        for _ in range(REQUESTS):
            caller.call("fidelity", "token", "POST", f"{url}/token", endpoint="token", data=CC, auth=auth)
    return sink.attempts


def test_client_latency_is_never_below_the_targets_own_duration(tmp_path: Path) -> None:
    with target_process(tmp_path) as target:
        measured = {"direct": _measure(target, target.url)}
        with proxy_in_front(target.url, tmp_path) as (_, proxied):
            measured["proxy"] = _measure(target, proxied)
    server_ms = {s["op_id"]: float(s["duration_ms"]) for s in target.served() if s["op_id"]}

    found = {}
    for path, attempts in measured.items():
        assert len(attempts) == REQUESTS and all(a["status"] == 200 for a in attempts), path
        gaps = []
        for a in attempts:
            server = server_ms[a["op_id"]]  # every request reached the target with its op id
            client = float(a["latency_ms"])
            assert client >= server, f"{path} {a['op_id']}: client {client:.3f} ms < target {server:.3f} ms"
            gaps.append(client - server)
        found[path] = {
            "median_gap_ms": round(statistics.median(gaps), 3),
            "median_target_ms": round(statistics.median(server_ms[a["op_id"]] for a in attempts), 3),
            "median_client_ms": round(statistics.median(float(a["latency_ms"]) for a in attempts), 3),
        }
    print(f"\n{found}")
    for path, numbers in found.items():
        assert 0 < numbers["median_gap_ms"] <= MEDIAN_GAP_MS[path], (path, found)
