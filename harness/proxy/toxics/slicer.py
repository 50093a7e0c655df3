"""slicer (Toxiproxy's): each chunk is cut into pieces of about `average_size` bytes (± up to
`size_variation`), released `delay` MICROseconds apart. Order is kept across chunks.

average_size 0 (Toxiproxy's default, where its recursion never ends) passes chunks whole here.
"""

from __future__ import annotations

import random

from pydantic import Field

from harness.proxy.http import Request
from harness.proxy.pipeline import DelayStage, StageContext
from harness.proxy.registry import Toxic, register


@register
class SlicerToxic(Toxic):
    type_name = "slicer"

    average_size: int = Field(default=0, ge=0, description="bytes per piece on average")
    size_variation: int = Field(default=0, ge=0, description="bytes a piece may differ from the average")
    delay: int = Field(default=0, ge=0, description="µs between pieces")

    def cuts(self, size: int, rng: random.Random) -> list[int]:
        """Boundaries [0, ..., size] of the pieces: halve until a piece is within the variation of
        the average, the halving point moved by up to ± size_variation (Toxiproxy's chunk())."""
        if self.average_size <= 0 or size == 0:
            return [0, size]
        out = [0]
        stack = [(0, size)]
        while stack:
            start, end = stack.pop()
            if (end - start) - self.average_size <= self.size_variation:
                out.append(end)
                continue
            mid = start + (end - start) // 2
            if self.size_variation > 0:
                mid += rng.randrange(self.size_variation * 2) - self.size_variation
            mid = min(max(mid, start + 1), end - 1)  # a piece is never empty
            stack.append((mid, end))
            stack.append((start, mid))
        return out

    def stage(self, ctx: StageContext) -> SlicerStage:
        return SlicerStage(self, ctx)


class SlicerStage(DelayStage):
    toxic: SlicerToxic

    def __init__(self, toxic: SlicerToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        cuts = self.toxic.cuts(len(data), self.ctx.rng)
        step = self.toxic.delay / 1_000_000
        at = max(self.ctx.clock.time(), self.last_release)
        self.ctx.counters.faults_injected += 1
        last = len(cuts) - 2
        for i in range(len(cuts) - 1):
            self.push(at + i * step, data[cuts[i] : cuts[i + 1]], req, end and i == last)
        # Toxiproxy waits the delay after the last piece too, before taking the next chunk.
        self.last_release = at + (len(cuts) - 1) * step
