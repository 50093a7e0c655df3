"""slow_close (Toxiproxy's): data passes untouched; the end of the stream is held `delay` ms."""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import Request
from harness.proxy.pipeline import DelayStage, StageContext
from harness.proxy.registry import Toxic, register


@register
class SlowCloseToxic(Toxic):
    type_name = "slow_close"

    delay: int = Field(default=0, ge=0, description="ms the close (FIN) waits")

    def stage(self, ctx: StageContext) -> SlowCloseStage:
        return SlowCloseStage(self, ctx)


class SlowCloseStage(DelayStage):
    toxic: SlowCloseToxic

    def __init__(self, toxic: SlowCloseToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        self.push(self.ctx.clock.time(), data, req, end)

    def eof(self) -> None:
        self.ctx.counters.faults_injected += 1
        self.push(self.ctx.clock.time() + self.toxic.delay / 1000.0, None, None, False)
