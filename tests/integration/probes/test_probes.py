"""The built-in steady-state probes against real things: `http` and `prometheus` against a local HTTP
server (a health document and Prometheus's instant-query API), `command` against real processes. Each
answers ok or not with a one-line detail, and never raises for a system that answers badly."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.probes import ProbeContext
from harness.probes.command import CommandProbe
from harness.probes.http import HttpProbe
from harness.probes.prometheus import PrometheusProbe
from tests.helpers import free_port

ANSWERS: dict[str, Any] = {  # PromQL query -> the API's answer
    "up": {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": "idp"}, "value": [1, "1"]}, {"metric": {"job": "db"}, "value": [1, "0"]}]}},
    "error_rate": {"status": "success", "data": {"resultType": "scalar", "result": [1, "0.02"]}},
    "none": {"status": "success", "data": {"resultType": "vector", "result": []}},
    "bad(": {"status": "error", "errorType": "bad_data", "error": "parse error"},
}  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._send(200, {"status": "UP", "checks": [{"state": "degraded"}]})
        elif url.path == "/api/v1/query":
            query = parse_qs(url.query)["query"][0]
            self._send(400 if query == "bad(" else 200, ANSWERS[query])
        elif url.path == "/text":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"not json")
        else:
            self._send(503, {"status": "DOWN"})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


CTX = ProbeContext(timeout_s=5.0)


def http(**fields: Any) -> HttpProbe:
    return HttpProbe.model_validate({"type": "http", "name": "app", **fields})


def test_http_status_and_json_path(server: str) -> None:
    assert http(url=f"{server}/health").check(CTX).ok
    down = http(url=f"{server}/down").check(CTX)
    assert not down.ok and down.detail == f"GET {server}/down: 503 (expected 200)"
    assert http(url=f"{server}/down", expect_status=[200, 503]).check(CTX).ok
    assert http(url=f"{server}/health", json_path="$.status", equals="UP").check(CTX).ok
    degraded = http(url=f"{server}/health", json_path="$.checks[0].state", equals="ok").check(CTX)
    assert not degraded.ok and "$.checks[0].state is 'degraded' (expected 'ok')" in degraded.detail
    assert "nothing at $.missing" in http(url=f"{server}/health", json_path="$.missing").check(CTX).detail
    assert "body is not JSON" in http(url=f"{server}/text", json_path="$.status").check(CTX).detail


def test_http_unreachable_or_not_allowed_is_a_failure_not_an_exception() -> None:
    refused = http(url=f"http://127.0.0.1:{free_port()}/health").check(CTX)
    assert not refused.ok and "ConnectionError" in refused.detail
    outside = http(url="http://idp.example.com/health").check(CTX)
    assert not outside.ok and "host not allowed" in outside.detail


def test_prometheus_thresholds_on_vectors_and_scalars(server: str) -> None:
    held = PrometheusProbe(type="prometheus", name="a", url=server, query="error_rate", at_most=0.05).check(CTX)
    assert held.ok and held.value == pytest.approx(0.02)
    fired = PrometheusProbe(type="prometheus", name="a", url=server, query="error_rate", at_most=0.01).check(CTX)
    assert not fired.ok and "expected at most 0.01" in fired.detail
    up = PrometheusProbe(type="prometheus", name="a", url=server, query="up", at_least=1).check(CTX)
    assert not up.ok and up.value == 0 and "worst of 2 series" in up.detail
    empty = PrometheusProbe(type="prometheus", name="a", url=server, query="none", at_most=1)
    assert not empty.check(CTX).ok
    assert empty.model_copy(update={"if_empty": "ok"}).check(CTX).ok
    bad = PrometheusProbe(type="prometheus", name="a", url=server, query="bad(", at_most=1).check(CTX)
    assert not bad.ok and "status not success" in bad.detail


def test_command_exit_codes_and_its_timeout() -> None:
    ok = CommandProbe(type="command", name="c", argv=(sys.executable, "-c", "print('fine')")).check(CTX)
    assert ok.ok and ok.value == 0
    three = CommandProbe(type="command", name="c", argv=(sys.executable, "-c", "raise SystemExit(3)"))
    assert not three.check(CTX).ok and "exit code 3" in three.check(CTX).detail
    assert three.model_copy(update={"expect_exit": 3}).check(CTX).ok
    slow = CommandProbe(type="command", name="c", timeout_s=0.3,
                        argv=(sys.executable, "-c", "import time; time.sleep(30)")).check(CTX)  # fmt: skip
    assert not slow.ok and "still running after 0.3 s; ended" in slow.detail
    missing = CommandProbe(type="command", name="c", argv=("/nonexistent/check",)).check(CTX)
    assert not missing.ok and "could not start" in missing.detail
