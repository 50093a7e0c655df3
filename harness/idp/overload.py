"""Load shedding: above `max_inflight` concurrent requests in this process, answer 429 at once.

A pure ASGI middleware (Starlette's BaseHTTPMiddleware costs a task and a stream per request). The counter
needs no lock: one event loop per process, and it changes only between awaits.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Receive, Scope, Send

RETRY_AFTER_S = 1
_BODY = b'{"error":"temporarily_unavailable","error_description":"server overloaded, retry later"}'
_START = {
    "type": "http.response.start",
    "status": 429,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BODY)).encode("ascii")),
        (b"retry-after", str(RETRY_AFTER_S).encode("ascii")),
        (b"cache-control", b"no-store"),
    ],
}
_BODY_MESSAGE = {"type": "http.response.body", "body": _BODY, "more_body": False}


class InflightLimit:
    def __init__(self, app: ASGIApp, max_inflight: int, exempt_paths: Collection[str] = ()):
        self.app = app
        self.max_inflight = max_inflight
        # Health probes are exempt: an overloaded server is busy, not dead, and must not be restarted.
        self.exempt_paths = frozenset(exempt_paths)
        self.inflight = 0
        self.rejected = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.max_inflight:
            self.rejected += 1
            await send(_START)
            await send(_BODY_MESSAGE)
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1
