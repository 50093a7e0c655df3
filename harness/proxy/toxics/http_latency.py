"""http_latency (ours): delays matching requests by latency ± jitter ms, with a probability.

`where: request` holds the request before forwarding it (bytes after it wait behind it, so nothing is
reordered); `where: response` forwards the request at once and holds the server's response for the
delay from its first byte (only when the client is not pipelining; see request_faults.py).
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from harness.proxy.http import HttpMatch, Request
from harness.proxy.pipeline import DelayStage, StageContext
from harness.proxy.registry import Toxic, register
from harness.proxy.request_faults import HeldResponse


@register
class HttpLatencyToxic(Toxic, HttpMatch):
    type_name = "http_latency"
    streams = ("upstream",)
    http = True

    latency: int = Field(default=0, ge=0, description="ms added to a matching request")
    jitter: int = Field(default=0, ge=0, description="ms; the delay is uniform in latency ± jitter")
    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance per matching request")
    where: Literal["request", "response"] = "request"

    def delay_s(self, rng: random.Random) -> float:
        delay_ms = float(self.latency)
        if self.jitter:
            delay_ms += rng.uniform(-self.jitter, self.jitter)
        return max(delay_ms, 0.0) / 1000.0

    def stage(self, ctx: StageContext) -> HttpLatencyStage:
        return HttpLatencyStage(self, ctx)


class HttpLatencyStage(DelayStage):
    toxic: HttpLatencyToxic
    passes_unmatched = True

    def __init__(self, toxic: HttpLatencyToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic
        self._current: Request | None = None

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        now = self.ctx.clock.time()
        release_at = now
        if req is not None and req is not self._current:
            self._current = req
            if self._fires(req):
                delay_s = self.toxic.delay_s(self.ctx.rng)
                if self.toxic.where == "request":
                    release_at = now + delay_s
                else:
                    HeldResponse(self.ctx.link, self.ctx.clock, delay_s)
        self.push(release_at, data, req, end)

    def _fires(self, req: Request) -> bool:
        if req.partial or not self.toxic.matches(req):
            return False
        counters = self.ctx.counters
        counters.requests_matched += 1
        if self.ctx.rng.random() >= self.toxic.probability:
            return False
        if self.toxic.where == "response" and (self.ctx.link.awaiting_response() or self.queue):
            counters.faults_skipped += 1  # the next response bytes might not be this request's
            return False
        counters.faults_injected += 1
        return True
