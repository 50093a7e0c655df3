"""limit_data (Toxiproxy's): the first `bytes` bytes of the stream pass, then the connection is closed.
The count is per connection and survives an update of the toxic (Toxiproxy's stateful toxic)."""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import Request
from harness.proxy.pipeline import Stage, StageContext
from harness.proxy.registry import Toxic, register


@register
class LimitDataToxic(Toxic):
    type_name = "limit_data"

    bytes: int = Field(default=0, ge=0, description="bytes that pass before the close")

    def stage(self, ctx: StageContext) -> LimitDataStage:
        return LimitDataStage(self, ctx)


class LimitDataStage(Stage):
    toxic: LimitDataToxic

    def __init__(self, toxic: LimitDataToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic
        self.transmitted = 0
        self._closing = False

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        if self._closing:
            return
        remaining = max(self.toxic.bytes - self.transmitted, 0)
        if remaining < len(data):
            data, end = data[:remaining], False
        if data:
            self.transmitted += len(data)
            self.next(data, req, end)
        if self.toxic.bytes - self.transmitted <= 0:
            self._closing = True
            self.ctx.counters.faults_injected += 1
            clock = self.ctx.clock
            clock.call_at(clock.time(), self.ctx.link.close)
