"""Request log: one JSON line per HTTP request the target answered, so that a client's attempt records can be
matched to what the server saw (by the harness op id) and its latency compared with the server's own time.

A line holds only `ts`, `method`, `endpoint` (the logical name of harness/scenario/endpoints.py, else the
path, which never includes the query string), `status`, `duration_ms` (from the app receiving the request
to its last body bytes handed to the server for writing), `op_id` (the X-Harness-Op-Id header, kept only if it is a
short run of safe characters) and `request_id`. Never a query string, a body, another header, a token or a
secret: the line is built from those fields alone.

Lines are buffered and written with one `os.write` per flush on an O_APPEND descriptor, like the audit log,
so workers sharing the file never tear each other's lines. The app flushes every second and at shutdown.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.endpoints import EMBEDDED_PATHS
from harness.idp.audit import LineFile, current_request_id

FLUSH_BYTES = 64 * 1024
MAX_PATH_CHARS = 200
# harness.clients.caller.OP_ID_HEADER as ASGI spells it (lower case); not imported, as that would load
# requests and tenacity into every worker (a unit test keeps the two equal)
OP_ID_HEADER = b"x-harness-op-id"
_SAFE_OP_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
# Logical names and common methods are JSON-safe literals: quoted once here, not per request.
_ENDPOINT_JSON = {path: json.dumps(name) for name, path in EMBEDDED_PATHS.items()}
_METHOD_JSON = {m: json.dumps(m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")}


class RequestLog(LineFile):
    """The request log's file: whole lines, buffered, shared safely by workers (audit.LineFile)."""

    def write(self, line: str) -> None:
        self.write_bytes(line.encode("utf-8"))


def format_line(
    ts: float, method: str, path: str, status: int, duration_ms: float, op_id: str | None, request_id: str | None
) -> str:
    """One line; only `path` (when not one of ours) and an unusual method need real JSON quoting."""
    endpoint = _ENDPOINT_JSON.get(path) or json.dumps(path[:MAX_PATH_CHARS])
    method_json = _METHOD_JSON.get(method) or json.dumps(method[:16])
    op = f'"{op_id}"' if op_id is not None else "null"  # validated: [A-Za-z0-9._-] only
    rid = f'"{request_id}"' if request_id is not None else "null"  # hex, made by RequestIdMiddleware
    return (
        f'{{"ts":{ts:.6f},"method":{method_json},"endpoint":{endpoint},"status":{status},'
        f'"duration_ms":{duration_ms:.3f},"op_id":{op},"request_id":{rid}}}\n'
    )


def op_id_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == OP_ID_HEADER:
            return value.decode("ascii") if _SAFE_OP_ID.fullmatch(value) else None
    return None


class RequestLogMiddleware:
    """Pure ASGI (no task or stream per request). Sits inside RequestIdMiddleware, so the request id is set;
    outside load shedding and chaos, so their 429s and forced errors are logged like any answer."""

    def __init__(
        self,
        app: ASGIApp,
        log: Callable[[], RequestLog | None],
        *,
        clock: Callable[[], float] = time.time,
        perf: Callable[[], float] = time.perf_counter,
    ):
        self.app = app
        self.log = log  # the file opens in the app's lifespan, after the middleware stack is built
        self.clock = clock
        self.perf = perf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        log = self.log()
        if scope["type"] != "http" or log is None:
            await self.app(scope, receive, send)
            return
        t0, ts = self.perf(), self.clock()
        status = 0
        t_end: float | None = None

        async def send_and_time(message: Message) -> None:
            nonlocal status, t_end
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body" and not message.get("more_body", False):
                # stamped as the last bytes are handed over, not after: the server writes them at once, and
                # the client may have read them before this process runs again, so a later stamp could
                # exceed the client's own latency (seen on a busy 2-core machine)
                t_end = self.perf()
            await send(message)

        try:
            await self.app(scope, receive, send_and_time)
        except BaseException:
            # An unhandled error: Starlette's outermost ServerErrorMiddleware answers 500 unless a response
            # had started already, in which case the connection is dropped after the status the client got.
            status = status or 500
            raise
        finally:
            duration_ms = ((t_end if t_end is not None else self.perf()) - t0) * 1000.0
            op_id, request_id = op_id_of(scope["headers"]), current_request_id.get()
            log.write(format_line(ts, scope["method"], scope["path"], status, duration_ms, op_id, request_id))


def open_request_log(path: str | None) -> RequestLog | None:
    return RequestLog(path) if path else None
