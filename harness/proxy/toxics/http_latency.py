"""http_latency (ours): holds matching requests for latency ± jitter ms before forwarding them.

Per request, on the client -> server stream, with a probability per matching request. Bytes after a
held request wait behind it, so nothing is reordered.
"""

from __future__ import annotations

import random

from pydantic import Field

from harness.proxy.http import HttpMatch, Request
from harness.proxy.pipeline import DelayStage, StageContext
from harness.proxy.registry import Toxic, register


@register
class HttpLatencyToxic(Toxic, HttpMatch):
    type_name = "http_latency"
    streams = ("upstream",)
    http = True

    latency: int = Field(default=0, ge=0, description="ms added before a matching request is forwarded")
    jitter: int = Field(default=0, ge=0, description="ms; the delay is uniform in latency ± jitter")
    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance per matching request")

    def delay_s(self, rng: random.Random) -> float:
        delay_ms = float(self.latency)
        if self.jitter:
            delay_ms += rng.uniform(-self.jitter, self.jitter)
        return max(delay_ms, 0.0) / 1000.0

    def stage(self, ctx: StageContext) -> HttpLatencyStage:
        return HttpLatencyStage(self, ctx)


class HttpLatencyStage(DelayStage):
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
                release_at = now + self.toxic.delay_s(self.ctx.rng)
        self.push(release_at, data, req, end)

    def _fires(self, req: Request) -> bool:
        if req.partial or not self.toxic.matches(req):
            return False
        self.ctx.counters.requests_matched += 1
        if self.ctx.rng.random() >= self.toxic.probability:
            return False
        self.ctx.counters.faults_injected += 1
        return True
