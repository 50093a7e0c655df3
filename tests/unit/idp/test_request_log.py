from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from harness.clients.caller import OP_ID_HEADER
from harness.idp import requestlog
from harness.idp.app import create_app
from harness.idp.config import TargetConfig
from harness.idp.requestlog import RequestLog, RequestLogMiddleware, format_line, open_request_log

from .conftest import CLIENT_ID, CLIENT_SECRET, ISSUER, seed

FIELDS = ["ts", "method", "endpoint", "status", "duration_ms", "op_id", "request_id"]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Ticks:
    """A perf_counter that advances 5 ms per reading."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.005
        return self.now


def answer(status: int, *, chunks: int = 1, fail: bool = False) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        for n in range(chunks):
            await send({"type": "http.response.body", "body": b"x", "more_body": n < chunks - 1})
        if fail:
            raise RuntimeError("boom")

    return app


def failing_before_response() -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    return app


def call(app: Any, path: str = "/token", headers: list[tuple[bytes, bytes]] | None = None) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": path, "query_string": b"code=s3cret", "headers": headers or []}
    asyncio.run(app(scope, receive, send))


def logged(tmp_path: Path, inner: Any, **kw: Any) -> dict[str, Any]:
    log = RequestLog(str(tmp_path / "requests.jsonl"))
    middleware = RequestLogMiddleware(inner, lambda: log, clock=lambda: 1700000000.25, perf=Ticks())
    with contextlib.suppress(RuntimeError):  # the unhandled-error case re-raises, as it must
        call(middleware, **kw)
    log.close()
    (line,) = lines(tmp_path / "requests.jsonl")
    return line


def test_header_name_is_the_one_clients_send() -> None:
    assert OP_ID_HEADER.lower().encode("ascii") == requestlog.OP_ID_HEADER


def test_a_line_has_exactly_the_documented_fields(tmp_path: Path) -> None:
    line = logged(tmp_path, answer(200, chunks=3), headers=[(b"x-harness-op-id", b"abc123.4")])
    assert list(line) == FIELDS
    assert line["ts"] == 1700000000.25
    assert (line["method"], line["endpoint"], line["status"], line["op_id"]) == ("POST", "token", 200, "abc123.4")
    assert line["duration_ms"] == pytest.approx(5.0)  # first reading to the one as the last body chunk is handed over
    assert line["request_id"] is None  # no RequestIdMiddleware around this one


def test_an_unknown_path_is_logged_without_its_query_string(tmp_path: Path) -> None:
    line = logged(tmp_path, answer(404), path='/nope/"quoted"')
    assert (line["endpoint"], line["status"]) == ('/nope/"quoted"', 404)
    assert "s3cret" not in (tmp_path / "requests.jsonl").read_text()


@pytest.mark.parametrize("value", [b"has space", b"a" * 65, b"", b'x"y', b"\xff\xfe", b"eyJ/slash"])
def test_an_unsafe_op_id_is_dropped(tmp_path: Path, value: bytes) -> None:
    assert logged(tmp_path, answer(200), headers=[(b"x-harness-op-id", value)])["op_id"] is None


def test_an_unhandled_error_is_logged_as_the_500_the_client_gets(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    assert logged(before, failing_before_response())["status"] == 500
    # after the response started, the client got that status (then a dropped connection)
    assert logged(after, answer(200, fail=True))["status"] == 200


def test_lines_are_buffered_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    log = RequestLog(str(path))
    log.write(format_line(1.0, "GET", "/healthz", 200, 0.5, None, "ab"))
    assert path.read_text() == ""
    log.flush()
    assert lines(path) == [{"ts": 1.0, "method": "GET", "endpoint": "health", "status": 200, "duration_ms": 0.5,
                            "op_id": None, "request_id": "ab"}]  # fmt: skip
    log.close()


def test_a_full_buffer_is_written_in_whole_lines_and_two_writers_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    first, second = RequestLog(str(path)), RequestLog(str(path))  # two workers
    n = 2 * requestlog.FLUSH_BYTES // len(format_line(1.0, "POST", "/token", 200, 1.0, "a" * 32, "b" * 24)) + 10
    for i in range(n):
        first.write(format_line(1.0, "POST", "/token", 200, 1.0, f"{i:032d}", "b" * 24))
        second.write(format_line(2.0, "GET", "/nope", 404, 1.0, None, None))
    assert len(path.read_bytes()) > 0 and path.read_bytes().endswith(b"\n")  # flushed on size, whole lines
    first.close()
    second.close()
    rows = lines(path)
    assert len(rows) == 2 * n
    assert [r["op_id"] for r in rows if r["ts"] == 1.0] == [f"{i:032d}" for i in range(n)]


def test_no_path_means_no_log() -> None:
    assert open_request_log(None) is None


def test_the_app_logs_each_request_without_secrets(config: TargetConfig, tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    config = replace(config, request_log=str(path))
    seed(config)
    with TestClient(create_app(config), base_url=ISSUER) as http:
        token = http.post("/token?client_secret=leak", data={"grant_type": "client_credentials"},
                          auth=(CLIENT_ID, CLIENT_SECRET), headers={OP_ID_HEADER: "op1"})  # fmt: skip
        assert token.status_code == 200
        assert http.get("/.well-known/jwks.json", headers={OP_ID_HEADER: "op2"}).status_code == 200
        assert http.get("/nowhere?code=querycodeQzX").status_code == 404
    text = path.read_text()  # flushed at shutdown
    for secret in (CLIENT_SECRET, token.json()["access_token"], "leak", "querycodeQzX", "Basic"):
        assert secret not in text
    rows = lines(path)
    assert [(r["endpoint"], r["status"], r["op_id"]) for r in rows] == [
        ("token", 200, "op1"),
        ("jwks", 200, "op2"),
        ("/nowhere", 404, None),
    ]
    assert rows[0]["request_id"] == token.headers["x-amzn-requestid"]
    assert all(r["duration_ms"] > 0 for r in rows)


def middleware_classes(app: Starlette) -> list[object]:
    """What the app's middleware entries wrap (typed as factories: an identity check with a class needs object)."""
    return [m.cls for m in app.user_middleware]


def test_without_the_option_the_app_has_no_request_log_middleware(config: TargetConfig) -> None:
    app = create_app(config)
    assert all(cls is not RequestLogMiddleware for cls in middleware_classes(app))
