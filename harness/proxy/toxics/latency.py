"""latency (Toxiproxy's): every chunk of its stream waits latency ± jitter ms, order kept."""

from __future__ import annotations

import random

from pydantic import Field

from harness.proxy.http import Request
from harness.proxy.pipeline import DelayStage, StageContext
from harness.proxy.registry import Toxic, register


@register
class LatencyToxic(Toxic):
    type_name = "latency"

    latency: int = Field(default=0, ge=0, description="ms added to each chunk")
    jitter: int = Field(default=0, ge=0, description="ms; the delay is uniform in latency ± jitter")

    def delay_s(self, rng: random.Random) -> float:
        """One chunk's delay in seconds; never negative (a jitter larger than the latency clips at 0)."""
        delay_ms = float(self.latency)
        if self.jitter:
            delay_ms += rng.uniform(-self.jitter, self.jitter)
        return max(delay_ms, 0.0) / 1000.0

    def stage(self, ctx: StageContext) -> LatencyStage:
        return LatencyStage(self, ctx)


class LatencyStage(DelayStage):
    def __init__(self, toxic: LatencyToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        # As in Toxiproxy, the delay counts from when the chunk arrived, and a chunk never overtakes
        # the one before it.
        self.ctx.counters.faults_injected += 1
        self.push(self.ctx.clock.time() + self.toxic.delay_s(self.ctx.rng), data, req, end)
