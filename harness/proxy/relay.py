"""The proxy's native data path, as the event loop sees it: connections no toxic touches are handed to a C
thread (harness/proxy/_relay.c) that moves their bytes and frames their requests; the loop takes them back
when a toxic comes, or when the relay meets anything but the steady state and the ends of streams (an
error, a write the kernel did not take whole, a request its framer leaves to Python's).

Built by `pip install` where a C compiler is at hand (optional: without one every connection stays in
Python, which behaves the same, slower). `harness proxy --no-native` keeps every connection in Python.
"""

from __future__ import annotations

import asyncio
import ssl
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
# The relay speaks TLS itself (built with OpenSSL's headers): a proxy with TLS on both hops then keeps its
# sessions there, and Python sees its connections in plaintext through bridges (see _relay.c).
TLS = _relay is not None and bool(_relay.TLS)
_CLOSED = _relay.CLOSED if _relay is not None else -1
HANDSHAKE_TIMEOUT_S = 60.0  # uvloop's default for a TLS handshake, as the Python path has it


def native_context(server: bool, *paths: str | None) -> object | None:
    """The relay's OpenSSL context for a listener (cert, key) or an upstream (ca or None); None where the
    relay has no TLS or cannot use the files (the proxy then does TLS in Python, which says why)."""
    if not TLS or _relay is None:
        return None
    try:
        if server:
            cert, key = paths
            assert cert is not None and key is not None
            context: object = _relay.server_context(cert, key)
        else:
            context = _relay.client_context(paths[0])
    except (ValueError, OSError):
        return None
    return context


def handshake_error(message: str, verify: int) -> OSError:
    """The exception the Python path would have raised for a failed handshake, from the relay's account."""
    if verify:
        exc = ssl.SSLCertVerificationError(1, message)
        exc.verify_code = verify
        exc.verify_message = message.partition(": ")[2] or message
        exc.reason = "CERTIFICATE_VERIFY_FAILED"
        return exc
    if "closed" in message or "ended" in message:
        return ConnectionResetError(message)
    return ssl.SSLError(1, message)


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
    client_bridge: int = 0  # a TLS connection: the bridges its sessions went to (client_fd, server_fd are
    server_bridge: int = 0  # their plaintext ends); 0 for a plain one

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
        self._handshakes: dict[int, asyncio.Future[None]] = {}  # bridge handle -> its handshake's end
        loop.add_reader(self._relay.fileno(), self._collect)

    def adopt(self, link: Link, client_fd: int, server_fd: int, body_left: int, awaiting: bool,
              rules: NativeRules = ()) -> int:  # fmt: skip
        """The relay takes these sockets (the caller's dup()s) on behalf of `link`, sifting for `rules` from
        the first byte; returns its slot."""
        slot = self._relay.add(client_fd, server_fd, body_left, awaiting, rules)
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

    # --- TLS sessions in the relay ---------------------------------------------------------------

    def bridge_accepted(self, fd: int, context: object) -> tuple[int, int, asyncio.Future[None]]:
        """The relay takes an accepted TCP socket (the caller's dup()) and does the TLS handshake on it;
        returns (handle, fd of the plaintext end for Python, the handshake's end). Held: nothing reaches
        that end until unhold() or a join, so the connection can go to the relay whole."""
        return self._bridge(fd, context, None, True)

    def bridge_upstream(self, fd: int, context: object, server_name: str) -> tuple[int, int, asyncio.Future[None]]:
        """The relay does the TLS handshake towards an upstream on this TCP socket (the caller's dup()), with
        SNI and verification against `server_name`; returns (handle, Python's plaintext end, the
        handshake's end: an ssl error as the Python path raises it when it failed)."""
        return self._bridge(fd, context, server_name, False)

    def _bridge(self, fd: int, context: object, name: str | None, hold: bool) -> tuple[int, int, asyncio.Future[None]]:
        handle, fd = self._relay.bridge(fd, context, name, hold, True)
        done = self._loop.create_future()
        self._handshakes[handle] = done
        return handle, fd, done

    def unhold(self, handle: int) -> None:
        self._relay.unhold(handle)

    def reset(self, handle: int) -> None:
        """An RST to the TLS peer of a bridge, which ends (as a reset toxic does to a plain socket)."""
        self._relay.reset(handle)

    def join(self, link: Link, client: int, server: int, body_left: int, awaiting: bool,
             rules: NativeRules) -> int | None:  # fmt: skip
        """A TLS connection whose two bridges are quiet goes to the relay whole, session to session;
        returns its slot, or None when something was on its way (it stays bridged)."""
        slot = self._relay.join(client, server, body_left, awaiting, rules)
        if slot is not None:
            self._links[slot] = link
        return slot

    def _collect(self) -> None:
        for slot in self._relay.collect():
            if slot > 0xFFFFFFFF:  # a bridge's handshake ended
                self._handshake_ended(slot)
                continue
            link = self._links.get(slot)
            if link is not None:
                link.take_back()

    def _handshake_ended(self, handle: int) -> None:
        ok, message, verify = self._relay.handshake(handle)
        done = self._handshakes.pop(handle, None)
        if done is None or done.done():  # given up on meanwhile (reset): the relay has let it go
            if ok:
                self._relay.reset(handle)
            return
        if ok:
            done.set_result(None)
        else:
            done.set_exception(handshake_error(message, verify))

    def close(self) -> None:
        """Ends the thread; sockets still in its hands are closed (their links were aborted first)."""
        self._loop.remove_reader(self._relay.fileno())
        self._relay.close()
        self._links.clear()
        for done in self._handshakes.values():
            if not done.done():
                done.set_exception(ConnectionResetError("the proxy's relay closed"))
        self._handshakes.clear()


__all__ = ["AVAILABLE", "HANDSHAKE_TIMEOUT_S", "TLS", "Handback", "NativeRelay", "handshake_error", "native_context"]
