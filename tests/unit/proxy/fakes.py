"""Socket-free stand-ins for what stages see: a manual clock, a link that records responses."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from harness.proxy.http import Request
from harness.proxy.metrics import ToxicCounters
from harness.proxy.pipeline import Pipe, StageContext


class _Timer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Time moves only when a test calls `advance`; due timers run in order."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[tuple[float, int, _Timer, Callable[[], object]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> _Timer:
        timer = _Timer()
        heapq.heappush(self._timers, (when, next(self._seq), timer, callback))
        return timer

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer, callback = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            if not timer.cancelled:
                callback()
        self.now = target


class FakeLink:
    def __init__(self) -> None:
        self.responses: list[bytes] = []
        self.awaiting = False
        self.closed = 0
        self.resets = 0
        self.handler: Callable[[bytes], None] | None = None
        self.to_client: list[bytes] = []
        self.server_paused: set[object] = set()

    def close(self) -> None:
        self.closed += 1

    def reset(self) -> None:
        self.resets += 1

    def intercept_response(self, handler: Callable[[bytes], None] | None) -> None:
        self.handler = handler

    def forward_response(self, data: bytes) -> None:
        self.to_client.append(data)

    def server_sends(self, data: bytes) -> None:
        """Bytes from the server, as the connection would route them."""
        self.awaiting = False
        if self.handler is not None:
            self.handler(data)
        else:
            self.to_client.append(data)

    def pause_server(self, owner: object) -> None:
        self.server_paused.add(owner)

    def resume_server(self, owner: object) -> None:
        self.server_paused.discard(owner)

    def respond(self, data: bytes, keep_alive: bool) -> None:
        self.responses.append(data)

    def awaiting_response(self) -> bool:
        return self.awaiting


def context(clock: ManualClock | None = None, seed: int = 7, link: FakeLink | None = None) -> StageContext:
    return StageContext(clock or ManualClock(), random.Random(seed), ToxicCounters("t", "upstream"), link or FakeLink())


class Sink:
    """Collects what reaches the end of a pipe."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def write_eof(self) -> None:
        self.eof = True

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def upstream_pipe(sink: Sink, link: FakeLink) -> Pipe:
    from harness.proxy.http import RequestFramer

    return Pipe(sink.write, sink.write_eof, link, RequestFramer(), lambda: setattr(link, "awaiting", True))


def request(method: str = "GET", path: str = "/token") -> Request:
    return Request(method, path, path.split("?")[0], True, 0)
