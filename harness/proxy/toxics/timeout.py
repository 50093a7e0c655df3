"""timeout (Toxiproxy's): the stream's data is swallowed, and the connection is closed once no data has
come for `timeout` ms. With timeout 0 data is swallowed until the toxic is removed, which then closes
the connection (as Toxiproxy's Cleanup does)."""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import Request
from harness.proxy.pipeline import Cancellable, Stage, StageContext
from harness.proxy.registry import Toxic, register


@register
class TimeoutToxic(Toxic):
    type_name = "timeout"

    timeout: int = Field(default=0, ge=0, description="ms without data before the close; 0: never")

    def stage(self, ctx: StageContext) -> TimeoutStage:
        return TimeoutStage(self, ctx)


class TimeoutStage(Stage):
    toxic: TimeoutToxic

    def __init__(self, toxic: TimeoutToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic
        self._timer: Cancellable | None = None
        self._done = False
        ctx.counters.faults_injected += 1
        self._arm()

    def _arm(self) -> None:
        # Toxiproxy waits afresh after every chunk it swallows: an idle timeout, not a deadline.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.toxic.timeout > 0 and not self._done:
            clock = self.ctx.clock
            self._timer = clock.call_at(clock.time() + self.toxic.timeout / 1000.0, self._close)

    def _close(self) -> None:
        self._timer = None
        if not self._done:
            self._done = True
            self.ctx.link.close()

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        self._arm()

    def eof(self) -> None:
        self._close()

    def update(self, toxic: object) -> None:
        super().update(toxic)
        self._arm()

    def drain(self) -> list[tuple[float, bytes | None, Request | None, bool]]:
        # Removed (or the connection is ending): close, on the next turn of the loop so that the
        # pipe being relinked is not closed under its own feet.
        if self._timer is not None:
            self._timer.cancel()
        if not self._done:
            self._done = True
            clock = self.ctx.clock
            self._timer = clock.call_at(clock.time(), self.ctx.link.close)
        return []
