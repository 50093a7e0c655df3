"""What HTTP toxics share: a stage that decides once per request whether to act on it, and the two
ways of acting on the server's response to a forwarded request (hold it, or corrupt it).

A response is recognised without framing it: a fault acts only when no earlier request is still
waiting for its response (`awaiting_response`), so the next server bytes are this request's response.
A pipelining client is forwarded untouched and counted in `faults_skipped`.
"""

from __future__ import annotations

from typing import Literal, Protocol, cast

from harness.proxy.http import Request
from harness.proxy.pipeline import Cancellable, LinkPort, Scheduler, Stage, StageContext, answer


class RequestToxic(Protocol):
    """What a request-level stage needs of its toxic: which requests it matches."""

    def matches(self, req: Request) -> bool: ...


class ChanceToxic(RequestToxic, Protocol):
    """A toxic that acts on a share of the requests it matches."""

    probability: float


class RequestFaultStage(Stage):
    """Per-request decision: matches (method, path) -> `wants` (the coin flip) -> `act`. A request
    given a `fault_response` is swallowed whole and answered at its end."""

    # Acting needs the previous response to be back (answering or touching a response out of order
    # would corrupt the stream).
    needs_idle = True
    passes_unmatched = True

    toxic: RequestToxic

    def __init__(self, toxic: RequestToxic, ctx: StageContext):
        super().__init__(ctx)
        self.toxic = toxic
        self._current: Request | None = None

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        if req is not None and req is not self._current:
            self._current = req
            if req.fault_response is None and self._fires(req):
                self.act(req)
        if req is not None and req.fault_response is not None:
            if end:
                answer(self.ctx.link, req)
            return
        self.next(data, req, end)

    def wants(self, req: Request) -> bool:
        """The coin flip of a toxic with a `probability`; a stage with another rule (throttle) overrides it."""
        return self.ctx.rng.random() < cast(ChanceToxic, self.toxic).probability

    def act(self, req: Request) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fires(self, req: Request) -> bool:
        if req.partial or not self.toxic.matches(req):
            return False
        counters = self.ctx.counters
        counters.requests_matched += 1
        if not self.wants(req):
            return False
        if self.needs_idle and self.ctx.link.awaiting_response():
            counters.faults_skipped += 1
            return False
        counters.faults_injected += 1
        return True


class HeldResponse:
    """Holds the next response `delay_s` from its first byte, then lets it through (server reads paused
    meanwhile, so back-pressure reaches the server)."""

    def __init__(self, link: LinkPort, clock: Scheduler, delay_s: float):
        self.link = link
        self.clock = clock
        self.delay_s = delay_s
        self.held: list[bytes] = []
        self.timer: Cancellable | None = None
        link.intercept_response(self.receive)

    def receive(self, data: bytes) -> None:
        self.held.append(data)
        if self.timer is None:
            self.link.pause_server(self)
            self.timer = self.clock.call_at(self.clock.time() + self.delay_s, self.release)

    def release(self) -> None:
        self.link.intercept_response(None)
        data = b"".join(self.held)
        self.held.clear()
        self.link.forward_response(data)
        self.link.resume_server(self)


CorruptMode = Literal["truncate", "garble"]


class CorruptedResponse:
    """Breaks the next response. `truncate`: the head and half of the body bytes in the first chunk go
    through, then the connection closes (the client reads less than Content-Length). `garble`: the body
    bytes of the first chunk are replaced by as many 0xFF bytes (not UTF-8, not JSON); the length stays
    right, so a keep-alive connection goes on."""

    def __init__(self, link: LinkPort, mode: CorruptMode):
        self.link = link
        self.mode = mode
        link.intercept_response(self.receive)

    def receive(self, data: bytes) -> None:
        self.link.intercept_response(None)
        head_end = data.find(b"\r\n\r\n")
        body_at = head_end + 4 if head_end >= 0 else 0
        body_len = len(data) - body_at
        if self.mode == "truncate":
            self.link.forward_response(data[: body_at + body_len // 2])
            self.link.close()
        else:
            self.link.forward_response(data[:body_at] + b"\xff" * body_len)
