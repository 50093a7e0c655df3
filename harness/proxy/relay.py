"""The proxy's native data path, as the event loop sees it: connections no toxic touches are handed to a C
thread (harness/proxy/_relay.c) that moves their bytes and frames their requests; the loop takes them back
when a toxic comes, or when the relay meets anything but the steady state and the ends of streams (an
error, a write the kernel did not take whole, a request its framer leaves to Python's).

Built by `pip install` where a C compiler is at hand (optional: without one every connection stays in
Python, which behaves the same, slower). `harness proxy --no-native` keeps every connection in Python.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

_relay: ModuleType | None
try:
    from harness.proxy import _relay
except ImportError:  # pragma: no cover - built on every supported platform with a compiler
    _relay = None

if TYPE_CHECKING:
    from harness.proxy._relay import Relay
    from harness.proxy.connection import Link
    from harness.proxy.sieve import NativeRules

AVAILABLE = _relay is not None
_CLOSED = _relay.CLOSED if _relay is not None else -1


@dataclass(frozen=True)
class Handback:
    """A connection as the relay gives it back: why, its counts since it went native, where its request
    framing stands, and the bytes it read and did not pass on (in the order they are owed)."""

    reason: int  # _relay.RELEASED, END, FRAMING, WRITE, ERROR or CLOSED
    error: int  # errno, with ERROR
    client_fd: int  # the sockets, the caller's again
    server_fd: int
    requests: int
    bytes_upstream: int
    bytes_downstream: int
    body_left: int
    awaiting: bool
    framed: bytes  # client bytes framed, not yet written to the server
    unframed: bytes  # client bytes after them, for the framer
    down: bytes  # server bytes not yet written to the client

    @property
    def closed(self) -> bool:
        """Both streams ended and the relay closed the sockets (their descriptors are -1)."""
        return self.reason == _CLOSED


class NativeRelay:
    """One per event loop: the relay thread, and which Link each of its connections belongs to."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        assert _relay is not None
        self._relay: Relay = _relay.Relay()
        self._loop = loop
        self._links: dict[int, Link] = {}
        loop.add_reader(self._relay.fileno(), self._collect)

    def adopt(self, link: Link, client_fd: int, server_fd: int, body_left: int, awaiting: bool) -> int:
        """The relay takes these sockets (the caller's dup()s) on behalf of `link`; returns its slot."""
        slot = self._relay.add(client_fd, server_fd, body_left, awaiting)
        self._links[slot] = link
        return slot

    def sift(self, slot: int, rules: NativeRules) -> None:
        """Requests these tests (an HTTP toxic's method and path) may match go back to Python, unread."""
        self._relay.sift(slot, rules)

    def release(self, slot: int) -> Handback:
        """Takes a connection back now (the relay is between two batches of events meanwhile)."""
        del self._links[slot]
        return Handback(*self._relay.release(slot))

    def stats(self, slot: int) -> tuple[int, int, int]:
        """(requests, bytes upstream, bytes downstream) of a connection in the relay, live."""
        return self._relay.stats(slot)

    def _collect(self) -> None:
        for slot in self._relay.collect():
            link = self._links.get(slot)
            if link is not None:
                link.take_back()

    def close(self) -> None:
        """Ends the thread; sockets still in its hands are closed (their links were aborted first)."""
        self._loop.remove_reader(self._relay.fileno())
        self._relay.close()
        self._links.clear()


__all__ = ["AVAILABLE", "Handback", "NativeRelay"]
