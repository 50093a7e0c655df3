"""The fast transport (FastHttpUser's client behind the requests surface) gives the retry-aware caller the
same outcomes as the default transport: answers of every status reach it as answers (a redirect is not
followed, a 4xx/5xx keeps its body), cookies go back as FastHttpUser sends them, and a refused connection
or a read timeout come out as requests' exceptions, classified as connect_error and timeout, and a
certificate that does not verify as tls_error.

The client runs in a child process: importing Locust monkey-patches the process it is imported in."""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

from tests.helpers import LOOPBACK, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CHILD = r"""
import locust  # first, as in a Locust process: it monkey-patches ssl and sockets before anyone uses them
import json, sys
from harness.clients import Caller, RetryPolicy
from harness.load.fasttransport import FastSession
from harness.scenario.model import Retry, RetryStop, RetryWait, Timeouts
from tests.unit.clients.fakes import ListSink

base, refused = sys.argv[1], sys.argv[2]  # sys.argv[3]: https, a certificate from a CA nobody trusts
session = FastSession()
sink = ListSink()
retry = Retry(stop=RetryStop(after_attempt=2), wait=RetryWait(fixed_s=0.0), timeout_s=Timeouts(connect=1.0, read=0.3))
caller = Caller(session, RetryPolicy(retry), sink, user="u", node="n", phase=lambda: "p", sleep=lambda s: None)
out = {}
for name in ("ok", "redirect", "missing", "unavailable", "slow", "cookie"):
    result = caller.call("f", name, "GET", f"{base}/{name}", endpoint=name)
    body = result.response.content.decode() if result.response is not None else None
    out[name] = {"outcome": result.outcome, "status": result.status, "attempts": result.attempts, "body": body}
posted = session.request("POST", f"{base}/echo", data={"a": "1"}, auth=("id", "secret"), timeout=(1.0, 1.0))
out["echo"] = posted.json()
out["redirect_location"] = session.request("GET", f"{base}/redirect", timeout=(1.0, 1.0)).headers["location"]
out["refused"] = caller.call("f", "refused", "GET", f"http://127.0.0.1:{refused}/", endpoint="x").outcome
out["untrusted"] = caller.call("f", "untrusted", "GET", sys.argv[3], endpoint="x").outcome
session.close()
print(json.dumps(out))
"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ok":
            self._answer(200, b"fine", Set_Cookie="session=abc; Path=/")
        elif self.path == "/redirect":
            self._answer(302, b"elsewhere", Location="/ok")
        elif self.path == "/missing":
            self._answer(404, b'{"error": "nope"}', Content_Type="application/json")
        elif self.path == "/unavailable":
            self._answer(503, b"busy")
        elif self.path == "/slow":
            threading.Event().wait(1.5)  # past the client's 0.3 s read timeout
            with contextlib.suppress(OSError):  # the client has given up by now
                self._answer(200, b"late")
        elif self.path == "/cookie":
            self._answer(200, (self.headers.get("Cookie") or "").encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        seen = {"body": body, "type": self.headers.get("Content-Type"), "auth": self.headers.get("Authorization"),
                "encoding": self.headers.get("Accept-Encoding")}  # fmt: skip
        self._answer(200, json.dumps(seen).encode(), Content_Type="application/json")


def serve(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, Any]]:
    plain = serve(ThreadingHTTPServer((LOOPBACK, 0), Handler))
    untrusted = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert(LOOPBACK).configure_cert(context)
    untrusted.socket = context.wrap_socket(untrusted.socket, server_side=True)
    serve(untrusted)
    try:
        base = f"http://{LOOPBACK}:{plain.server_address[1]}"
        https = f"https://{LOOPBACK}:{untrusted.server_address[1]}/ok"
        child = subprocess.run([sys.executable, "-c", CHILD, base, str(free_port()), https], capture_output=True,
                               text=True, timeout=45)  # fmt: skip
        assert child.returncode == 0, child.stderr
        yield json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        for server in (plain, untrusted):
            server.shutdown()
            server.server_close()


def test_answers_of_every_status_reach_the_caller_as_answers(results: dict[str, Any]) -> None:
    assert results["ok"] == {"outcome": "ok", "status": 200, "attempts": 1, "body": "fine"}
    assert results["redirect"]["status"] == 302 and results["redirect"]["body"] == "elsewhere"  # not followed
    assert results["redirect_location"] == "/ok"
    assert results["missing"]["status"] == 404 and results["missing"]["body"] == '{"error": "nope"}'
    assert results["unavailable"]["outcome"] == "http_5xx" and results["unavailable"]["attempts"] == 2  # retried


def test_failures_come_out_as_the_default_transports_outcomes(results: dict[str, Any]) -> None:
    assert results["slow"]["outcome"] == "timeout" and results["slow"]["status"] == 0
    assert results["refused"] == "connect_error"
    assert results["untrusted"] == "tls_error"  # verified against the system store, as FastHttpUser's default


def test_requests_carry_what_fasthttpuser_sends(results: dict[str, Any]) -> None:
    assert results["cookie"]["body"] == "session=abc"  # the jar kept the cookie /ok set
    echo = results["echo"]
    assert echo["body"] == "a=1" and echo["type"] == "application/x-www-form-urlencoded"
    assert echo["auth"] == "Basic aWQ6c2VjcmV0" and echo["encoding"] == "gzip, deflate, br"
