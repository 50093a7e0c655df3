"""reset_peer (Toxiproxy's `ResetToxic`): on the first data (or end) of the stream, wait `timeout` ms,
then reset both sides of the connection (SO_LINGER 0: the peers see ECONNRESET). What the stream
carries from then on is dropped."""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import Request
from harness.proxy.pipeline import Cancellable, Stage, StageContext
from harness.proxy.registry import Toxic, register


@register
class ResetPeerToxic(Toxic):
    type_name = "reset_peer"

    timeout: int = Field(default=0, ge=0, description="ms from the first data to the reset")

    def stage(self, ctx: StageContext) -> ResetPeerStage:
        return ResetPeerStage(self, ctx)


class ResetPeerStage(Stage):
    toxic: ResetPeerToxic

    def __init__(self, toxic: ResetPeerToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic
        self._timer: Cancellable | None = None

    def _trigger(self) -> None:
        if self._timer is None:
            self.ctx.counters.faults_injected += 1
            clock = self.ctx.clock
            self._timer = clock.call_at(clock.time() + self.toxic.timeout / 1000.0, self.ctx.link.reset)

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        self._trigger()

    def eof(self) -> None:
        self._trigger()

    # drain: an armed reset still happens (in Toxiproxy the wait is not interruptible either).
