"""The path bytes take through one direction of one connection: a Pipe, and the toxic Stages in it.

    source transport -> Pipe.feed -> [RequestFramer] -> stage -> stage -> ... -> sink (peer transport)

A Stage is the per-connection state of one toxic (the toxic itself holds only its attributes). With
no stage a pipe writes straight to the peer, which is the fast path; with only HTTP stages, so does a
request none of their toxics can match (RequestSieve, RequestFramer.skim). Toxics are added and removed
while connections are open: `Pipe.set_stages` relinks the chain and hands what a removed stage still
held to the stage after it, so no byte is lost or reordered.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.proxy.http import Request, RequestFramer, Segment
from harness.proxy.sieve import RequestSieve

if TYPE_CHECKING:
    from harness.proxy.metrics import ToxicCounters

Feed = Callable[[bytes, "Request | None", bool], None]
# What a stage may hold: (release time, bytes or None for end of stream, request, ends request).
Held = tuple[float, "bytes | None", "Request | None", bool]

HIGH_WATER_BYTES = 1 << 20  # a stage holding more than this pauses reading from the source
LOW_WATER_BYTES = 1 << 18


class Scheduler(Protocol):
    def time(self) -> float: ...
    def call_at(self, when: float, callback: Callable[[], object]) -> Cancellable: ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class LinkPort(Protocol):
    """What a stage may ask of its connection."""

    def respond(self, data: bytes, keep_alive: bool) -> None:
        """Write `data` to the client as if the server had sent it (enters the downstream pipe)."""

    def awaiting_response(self) -> bool:
        """A forwarded request has had no response byte back yet (the client is pipelining)."""
        ...

    def close(self) -> None:
        """End the connection on both sides with a FIN (Toxiproxy's stub.Close)."""

    def reset(self) -> None:
        """End the connection on both sides with an RST (SO_LINGER 0), discarding unsent data."""

    def intercept_response(self, handler: Callable[[bytes], None] | None) -> None:
        """Route server -> client bytes through `handler` (None: straight through again). The handler
        passes on what it wants with `forward_response`."""

    def forward_response(self, data: bytes) -> None:
        """Bytes of the server's response continue to the client (through downstream toxics)."""

    def pause_server(self, owner: object) -> None:
        """Stop reading from the server until `resume_server(owner)`."""

    def resume_server(self, owner: object) -> None: ...


@dataclass
class StageContext:
    """Everything a stage gets from outside: clock and timers, its toxic's RNG and counters, the link."""

    clock: Scheduler
    rng: random.Random
    counters: ToxicCounters
    link: LinkPort
    pause_source: Callable[[object], None] = field(default=lambda owner: None)
    resume_source: Callable[[object], None] = field(default=lambda owner: None)


class Stage:
    """Per-connection state of one toxic in one direction. The default passes everything on."""

    toxic: Any = None
    # An HTTP stage whose toxic's method and path do not match a request passes it on untouched, at
    # once while `holds` is False: a pipe may then send such a request past it (Pipe.feed, skim).
    passes_unmatched = False

    def __init__(self, ctx: StageContext):
        self.ctx = ctx
        self.next: Feed = _unlinked
        self.next_eof: Callable[[], None] = _unlinked_eof

    def feed(self, data: bytes, req: Request | None, end: bool) -> None:
        self.next(data, req, end)

    def eof(self) -> None:
        self.next_eof()

    def update(self, toxic: object) -> None:
        """The toxic's attributes changed (PATCH): keep this connection's state, use the new values."""
        self.toxic = toxic

    def drain(self) -> list[Held]:
        """Stops the stage and returns what it still holds, oldest first (the toxic was removed)."""
        return []

    def holds(self) -> bool:
        """Bytes wait in this stage: what comes next must queue behind them."""
        return False


def answer(link: LinkPort, req: Request) -> None:
    """The whole of a swallowed request has been read: answer it, or end the connection (http_drop)."""
    if req.drop == "reset":
        link.reset()
    elif req.drop:
        link.close()
    elif req.fault_response is not None:
        link.respond(req.fault_response, req.keep_alive)


def _unlinked(data: bytes, req: Request | None, end: bool) -> None:  # pragma: no cover - wiring bug
    raise RuntimeError("stage used before it was linked into a pipe")


def _unlinked_eof() -> None:  # pragma: no cover - wiring bug
    raise RuntimeError("stage used before it was linked into a pipe")


class DelayStage(Stage):
    """A stage that releases what it gets at given times, in arrival order (latency toxics)."""

    def __init__(self, ctx: StageContext):
        super().__init__(ctx)
        self.queue: deque[Held] = deque()
        self.last_release = 0.0
        self.held_bytes = 0
        self._timer: Cancellable | None = None
        self._paused = False

    def push(self, release_at: float, data: bytes | None, req: Request | None, end: bool) -> None:
        """Release at `release_at`, or after everything queued before it, whichever is later."""
        release_at = max(release_at, self.last_release)
        self.last_release = release_at
        if not self.queue and release_at <= self.ctx.clock.time():
            self._emit(data, req, end)
            return
        self.queue.append((release_at, data, req, end))
        if data is not None:
            self.held_bytes += len(data)
            if self.held_bytes > HIGH_WATER_BYTES and not self._paused:
                self._paused = True
                self.ctx.pause_source(self)
        if self._timer is None:
            self._timer = self.ctx.clock.call_at(release_at, self._release)

    def eof(self) -> None:
        self.push(self.ctx.clock.time(), None, None, False)

    def _emit(self, data: bytes | None, req: Request | None, end: bool) -> None:
        if data is None:
            self.next_eof()
        else:
            self.next(data, req, end)

    def _release(self) -> None:
        self._timer = None
        now = self.ctx.clock.time()
        queue = self.queue
        while queue and queue[0][0] <= now:
            _, data, req, end = queue.popleft()
            if data is not None:
                self.held_bytes -= len(data)
            self._emit(data, req, end)
        if self._paused and self.held_bytes < LOW_WATER_BYTES:
            self._paused = False
            self.ctx.resume_source(self)
        if queue and self._timer is None:
            self._timer = self.ctx.clock.call_at(queue[0][0], self._release)

    def holds(self) -> bool:
        return bool(self.queue)

    def drain(self) -> list[Held]:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held = list(self.queue)
        self.queue.clear()
        self.held_bytes = 0
        if self._paused:
            self._paused = False
            self.ctx.resume_source(self)
        return held


class Pipe:
    """One direction of one connection. `framer` is set on the client -> server direction only."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        write_eof: Callable[[], None],
        link: LinkPort,
        framer: RequestFramer | None = None,
        on_request_end: Callable[[], None] | None = None,
    ):
        self.write = write
        self.write_eof = write_eof
        self.link = link
        self.framer = framer
        self.on_request_end = on_request_end
        self.stages: list[Stage] = []
        self.hold = False
        # Set while every stage passes unmatched requests on: requests no toxic can match skip them.
        self.sieve: RequestSieve | None = None
        self._may_hold: tuple[Stage, ...] = ()
        self._first: Feed | None = None
        self._first_eof: Callable[[], None] = write_eof
        self.eof_seen = False
        # What the source's data_received calls: the peer's write itself when there is nothing to do
        # on the way (no framer, no stage), one Python call less per chunk; `_feed_tracking` when there is
        # only the framer to keep up to date (no toxic); else `feed`.
        self.entry: Callable[[bytes], None] = self.feed
        self._rebind()

    def set_write(self, write: Callable[[bytes], None]) -> None:
        """The sink changed (upstream connected, or a side went away)."""
        self.write = write
        self._rebind()

    def _rebind(self) -> None:
        if self._first is not None:
            self.entry = self.feed
        elif self.framer is None:
            self.entry = self.write
        else:
            self.entry = self._feed_tracking

    def _feed_tracking(self, data: bytes) -> None:
        """The entry of a client -> server pipe with no toxic on it, the proxy's plain path: requests are
        counted and the bytes go on as they came."""
        ended = self.framer.track(data)  # type: ignore[union-attr]  # (set: see _rebind)
        if ended is None:
            self.feed(data)
            return
        self.write(data)
        if ended and self.on_request_end is not None:
            self.on_request_end()

    # --- input -----------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        framer = self.framer
        first = self._first
        if framer is None:
            if first is None:
                self.write(data)
            else:
                first(data, None, False)
            return
        sieve = self.sieve
        may_hold = self._may_hold
        if sieve is not None and not (may_hold and any(s.holds() for s in may_hold)):
            skimmed = framer.skim(data, sieve)  # the fast path with HTTP toxics: none can match
            if skimmed is not None:
                self.write(data)
                if skimmed and self.on_request_end is not None:
                    self.on_request_end()
                return
        for seg in framer.feed(data, self.hold):
            req = seg[1]
            if req is not None and req.fault_response is not None:
                self.swallow(*seg)
            elif first is None:
                self.sink(*seg)
            else:
                first(*seg)

    def feed_eof(self) -> None:
        if self.eof_seen:
            return
        self.eof_seen = True
        self._first_eof()

    def inject(self, data: bytes) -> None:
        """Bytes that did not come from the source (a synthetic response) enter at the chain start."""
        if self._first is None:
            self.write(data)
        else:
            self._first(data, None, False)

    # --- output ----------------------------------------------------------------------------------

    def sink(self, data: bytes, req: Request | None, end: bool) -> None:
        self.write(data)
        if end and self.on_request_end is not None:
            self.on_request_end()

    def swallow(self, data: bytes, req: Request | None, end: bool) -> None:
        """Bytes of a request the proxy answers itself: dropped, and the answer goes back at its end."""
        if end and req is not None:
            answer(self.link, req)

    # --- toxics come and go ----------------------------------------------------------------------

    def set_stages(self, stages: list[Stage], hold: bool) -> None:
        old = self.stages
        kept = set(map(id, stages))
        for i, stage in enumerate(stages):
            if i + 1 < len(stages):
                stage.next = stages[i + 1].feed
                stage.next_eof = stages[i + 1].eof
            else:
                stage.next = self._sink_unless_swallowed
                stage.next_eof = self.write_eof
        self.stages = list(stages)
        self.hold = hold
        sifts = hold and all(stage.passes_unmatched for stage in stages)
        self.sieve = RequestSieve.of(stage.toxic for stage in stages) if sifts else None
        # Only stages that can hold anything are asked, per chunk, whether they do.
        self._may_hold = tuple(stage for stage in stages if type(stage).holds is not Stage.holds)
        self._first = stages[0].feed if stages else None
        self._first_eof = stages[0].eof if stages else self.write_eof
        self._rebind()
        # What removed stages held goes to the next surviving stage (or the sink), oldest data first:
        # data in a later stage is older than data in an earlier one.
        for index in range(len(old) - 1, -1, -1):
            stage = old[index]
            if id(stage) in kept:
                continue
            successor = next((s for s in old[index + 1 :] if id(s) in kept), None)
            feed = successor.feed if successor is not None else self._sink_unless_swallowed
            feed_eof = successor.eof if successor is not None else self.write_eof
            for _, data, req, end in stage.drain():
                if data is None:
                    feed_eof()
                else:
                    feed(data, req, end)

    def _sink_unless_swallowed(self, data: bytes, req: Request | None, end: bool) -> None:
        if req is not None and req.fault_response is not None:
            self.swallow(data, req, end)
        else:
            self.sink(data, req, end)

    def close(self) -> None:
        for stage in self.stages:
            stage.drain()
        self.stages = []
        self.sieve = None
        self._may_hold = ()
        self._first = None
        self._rebind()


__all__ = ["DelayStage", "Held", "LinkPort", "Pipe", "Segment", "Stage", "StageContext", "answer"]
