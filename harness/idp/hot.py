"""The hot path: GET of discovery and the JWKS, the documents every verifier and client polls, answered in
front of the app when nothing on the app's way would act on the request. The answer is the one the full
path gives (JsonDocument's status, headers and body, then RequestIdMiddleware's request id; uvicorn adds
its own headers to both), without the way there: Starlette's error and exception layers, our middlewares
and the router were two thirds of a discovery request's time in the process (py-spy under wrk, issue 22),
46,000 req/s on one worker without them against 29,000 with.

A request takes the full path whenever any layer could act on it:
- a fault of the chaos API is on (ChaosMiddleware's forced errors, on any endpoint);
- a request log is kept (RequestLogMiddleware writes a line per request);
- the request says it has a body (BodyLimit judges a Content-Length or a chunked body);
- the process is at its in-flight limit (InflightLimit sheds with 429; below it, the hot path counts its
  own answers in the same count);
- anything but GET (HEAD, and the 405 of other methods, are Starlette's).
ForgeryHeader acts on the token endpoint only. tests/unit/idp/test_hot.py holds each case to the full
path's answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Scope, Send

from harness.idp.chaos import ChaosState
from harness.idp.oidc import JsonDocument
from harness.idp.overload import Inflight
from harness.idp.requestid import HEADER, new_request_id


class HotDocuments:
    def __init__(self, documents: Mapping[str, JsonDocument], chaos: ChaosState, inflight: Inflight,
                 request_log: bool):  # fmt: skip
        self.documents = dict(documents)  # path -> document
        self.chaos = chaos
        self.inflight = inflight
        self.request_log = request_log

    def takes(self, scope: Scope) -> JsonDocument | None:
        """The document to answer this request with on the hot path, or None: the full path."""
        if scope["type"] != "http" or scope["method"] != "GET" or self.request_log:
            return None
        document = self.documents.get(scope["path"])
        if document is None or self.chaos.errors or self.inflight.inflight >= self.inflight.max_inflight:
            return None
        for name, _ in scope["headers"]:
            if name == b"content-length" or name == b"transfer-encoding":
                return None
        return document

    async def answer(self, document: JsonDocument, send: Send) -> None:
        headers, body = document.current()
        inflight = self.inflight
        inflight.inflight += 1
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*headers, (HEADER, new_request_id().encode("ascii"))]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
        finally:
            inflight.inflight -= 1
