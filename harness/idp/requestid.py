"""A request id per request: sent back as `x-amzn-RequestId` (botocore shows it as
ResponseMetadata.RequestId) and stamped on every audit event the request causes, so that a client-side
record and the target's audit line can be matched."""

from __future__ import annotations

import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.idp.audit import current_request_id

HEADER = b"x-amzn-requestid"


def new_request_id() -> str:
    return os.urandom(12).hex()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        token = current_request_id.set(request_id)
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new message: the one given may be shared (overload.py sends one 429 to every request shed).
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request_id.reset(token)
