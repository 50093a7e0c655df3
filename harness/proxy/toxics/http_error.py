"""http_error (ours): answers matching requests with an error status instead of forwarding them.

Per request, on the client -> server stream: a request that matches method and path and wins the coin
flip (`probability`) is swallowed whole (body included) and the proxy answers it itself, with a small
OAuth-style JSON body, `Retry-After` when set and `X-Harness-Fault: http_error`; the connection stays
open for the next request. Toxiproxy's `toxicity` still picks the connections it applies to.
"""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import HttpMatch, Request, error_response
from harness.proxy.pipeline import Stage, StageContext
from harness.proxy.registry import Toxic, register


@register
class HttpErrorToxic(Toxic, HttpMatch):
    type_name = "http_error"
    streams = ("upstream",)
    http = True

    status: int = Field(default=503, ge=400, le=599)
    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance per matching request")
    retry_after: int = Field(default=0, ge=0, description="seconds for Retry-After; 0: no header")

    def response(self, keep_alive: bool = True) -> bytes:
        return error_response(self.status, self.retry_after, keep_alive=keep_alive, fault=self.type_name)

    def stage(self, ctx: StageContext) -> HttpErrorStage:
        return HttpErrorStage(self, ctx)


class HttpErrorStage(Stage):
    def __init__(self, toxic: HttpErrorToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic
        self._current: Request | None = None

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        if req is not None and req is not self._current:
            self._current = req
            if req.fault_response is None and self._fires(req):
                req.fault_response = self.toxic.response(req.keep_alive)
        if req is not None and req.fault_response is not None:
            if end:
                self.ctx.link.respond(req.fault_response, req.keep_alive)
            return
        self.next(data, req, end)

    def _fires(self, req: Request) -> bool:
        if req.partial or not self.toxic.matches(req):
            return False
        counters = self.ctx.counters
        counters.requests_matched += 1
        if self.ctx.rng.random() >= self.toxic.probability:
            return False
        if self.ctx.link.awaiting_response():
            # The client sent this before the previous response came back: an answer now would
            # overtake that response, so forward instead.
            counters.faults_skipped += 1
            return False
        counters.faults_injected += 1
        return True
