"""Request size limits the app enforces itself, before anything is buffered: a body over `max_body_bytes`
gets 413 at once when its Content-Length says so, and as soon as the bytes read pass the limit otherwise
(chunked), so a 64 MiB upload costs the server 16 KiB, not 64 MiB. Pure ASGI (no task or stream per
request); a request with a Content-Length within the limit, or without a body, pays one header scan.

What must happen before the app sees a request (head size and count, slow or silent senders) is in
protocol.py, the server side of the same limits. No endpoint of ours takes a body larger than a form or a
small JSON object, so one limit serves every path.
"""

from __future__ import annotations

import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY = (b'{"error":"invalid_request","error_description":"request body too large",'
         b'"message":"request body too large"}')
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-amzn-errortype", b"InvalidRequestException"),  # what botocore raises for it on the AWS faces
    (b"content-length", str(len(_BODY)).encode("ascii")),
    (b"cache-control", b"no-store"),
    (b"connection", b"close"),  # the rest of the body is never read: this connection cannot go on
]


class BodyTooLarge(Exception):
    """Raised into the app by `receive` once the body passes the limit."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    await _too_large(send)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked:
            # A body within its Content-Length, or none: the HTTP parser delivers no more bytes than that
            # length, so there is nothing to count (most requests, and every GET, pay only the scan above).
            await self.app(scope, receive, send)
            return
        seen = 0
        started = replaced = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # Once the body went over the limit the answer is 413, whatever a handler that swallowed the
            # error goes on to say.
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
                if seen > limit:
                    replaced = True
                    await _too_large(send)
                    return
            await send(message)

        with contextlib.suppress(BodyTooLarge):  # answered below
            await self.app(scope, limited_receive, guarded_send)
        if seen > limit and not started:
            await _too_large(send)


async def _too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY, "more_body": False})
