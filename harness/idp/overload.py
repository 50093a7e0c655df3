"""Load shedding: above `max_inflight` concurrent requests in this process, answer 429 at once.

A pure ASGI middleware (Starlette's BaseHTTPMiddleware costs a task and a stream per request). The counter
needs no lock: one event loop per process, and it changes only between awaits.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

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


@dataclass
class Inflight:
    """This process's requests in flight and those shed. One per app: InflightLimit keeps it, and the hot
    path in front of the app (hot.py) counts its own answers in it and leaves a full server to the limit."""

    max_inflight: int
    inflight: int = 0
    rejected: int = 0


class InflightLimit:
    def __init__(self, app: ASGIApp, counts: Inflight, exempt_paths: Collection[str] = ()):
        self.app = app
        self.counts = counts
        # Health probes are exempt: an overloaded server is busy, not dead, and must not be restarted.
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        counts = self.counts
        if counts.inflight >= counts.max_inflight:
            counts.rejected += 1
            await send(_START)
            await send(_BODY_MESSAGE)
            return
        counts.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            counts.inflight -= 1
