"""bandwidth (Toxiproxy's): the stream flows at most `rate` KB/s (kilobytes per second = bytes per ms).

As in Toxiproxy, each chunk is released once the time its bytes need at that rate has passed since the
previous one, and a chunk larger than 100 ms worth of bytes goes out in 100 ms pieces. Rate 0: no limit.
"""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import Request
from harness.proxy.pipeline import DelayStage, StageContext
from harness.proxy.registry import Toxic, register

SLICE_S = 0.1  # pieces of a large chunk are released this far apart


@register
class BandwidthToxic(Toxic):
    type_name = "bandwidth"

    rate: int = Field(default=0, ge=0, description="KB/s (bytes per ms); 0: unlimited")

    def stage(self, ctx: StageContext) -> BandwidthStage:
        return BandwidthStage(self, ctx)


class BandwidthStage(DelayStage):
    toxic: BandwidthToxic

    def __init__(self, toxic: BandwidthToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        rate = self.toxic.rate  # bytes per ms
        now = self.ctx.clock.time()
        if rate <= 0:
            self.push(now, data, req, end)
            return
        self.ctx.counters.faults_injected += 1
        at = max(now, self.last_release)
        piece = rate * 100
        pos = 0
        while len(data) - pos > piece:
            at += SLICE_S
            self.push(at, data[pos : pos + piece], req, False)
            pos += piece
        rest = data[pos:] if pos else data
        self.push(at + len(rest) / rate / 1000.0, rest, req, end)
