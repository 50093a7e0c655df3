"""uvicorn's httptools protocol with the limits it lacks (uvicorn 0.55 has none of these; its only timer
is the keep-alive one, armed after a response):

- the request head (request line and headers) is capped: a URL over `max_url_bytes` is 414, more than
  `max_headers` headers or more than `max_header_bytes` of them is 431, both answered as the bytes arrive,
  so an endless header costs no memory;
- a head must be complete within `header_timeout_s` of its first byte (or of the connection, for one that
  sends nothing at all), and a body within `body_timeout_s` of its head: a slow sender gets 408 and the
  connection is closed, so slowloris connections cannot pile up.

It also writes each response's head and the body that follows it in one `write` (`OneWrite`): uvicorn
writes them separately, two syscalls and two TCP segments per response where node and haproxy send one.

Body size is the app's own limit (limits.py), so that it holds under any server. The limits come from the
target's config in the environment (config.py), read once per worker process. uvicorn loads this class by
its import string (server.py), so this module is imported only by the server's processes.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from harness.idp.config import TargetConfig


@dataclass(frozen=True)
class HeadLimits:
    max_url_bytes: int
    max_header_bytes: int
    max_headers: int
    header_timeout_s: float
    body_timeout_s: float

    @classmethod
    def of(cls, config: TargetConfig) -> HeadLimits:
        return cls(config.max_url_bytes, config.max_header_bytes, config.max_headers, config.header_timeout_s,
                   config.body_timeout_s)


@functools.cache
def limits_from_env() -> HeadLimits:
    return HeadLimits.of(TargetConfig.from_env())


class OneWrite(asyncio.Transport):
    """The transport a request's cycle writes to: after `arm()`, the next write (the response head) is
    held and goes out with the write after it (the body), or at the loop's next turn if none comes in this
    one (a streamed or HEAD response), or before anything else reaches the connection. Writes keep their
    order. Hand-written: uvloop's and asyncio's transports have no cork, and TCP_CORK costs two syscalls
    per response, which is what this saves."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._armed = False
        self._held: bytes | None = None

    def arm(self) -> None:
        self._armed = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._armed:
            self._armed = False
            self.flush()
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the status is answered instead of uvicorn's 400."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: HeadLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits_from_env()
        self._refusal: int | None = None
        self._head_bytes = 0
        self._head_count = 0
        self._head_started = False
        self._timer: asyncio.TimerHandle | None = None
        self._one_write: OneWrite | None = None

    # -- timers ------------------------------------------------------------------------------------------

    def _arm(self, delay_s: float, expired: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay_s, self._expire, expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self, what: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if what == "body" and cycle is not None and not cycle.response_complete:
            # the app may be waiting on the body: it hears a disconnect, and its answer goes nowhere
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        if what == "body" or self._head_started:
            self._answer(408)
        else:
            self.transport.close()  # opened and never said a word

    # -- connection and parser callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._one_write = OneWrite(transport, self.loop)
        self._arm(self.limits.header_timeout_s, "head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_count = 0
        self._head_started = True
        if self._timer is None:  # not already running since the connection opened
            self._arm(self.limits.header_timeout_s, "head")

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > self.limits.max_url_bytes:
            self._refuse(414)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        self._head_bytes += len(name) + len(value) + 4
        if self._head_count > self.limits.max_headers or self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_started = False
        super().on_headers_complete()
        one_write = self._one_write
        if one_write is not None and self.cycle is not None and self.cycle.transport is self.transport:
            self.cycle.transport = one_write  # this request's answer: head and body in one write
            one_write.arm()
        if self._has_body():
            self._arm(self.limits.body_timeout_s, "body")

    def on_message_complete(self) -> None:
        if self._timer is not None and not self._head_started:
            self._disarm()
        super().on_message_complete()

    def _has_body(self) -> bool:
        for name, value in self.headers:
            if name == b"content-length":
                return value.strip() not in (b"0", b"")
            if name == b"transfer-encoding":
                return True
        return False

    # -- refusing ----------------------------------------------------------------------------------------

    def _refuse(self, status: int) -> None:
        self._refusal = status
        raise _Refused(status)

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers every parser error here; a refusal of ours raised it on purpose
        if self._refusal is None:
            if self._one_write is not None:
                self._one_write.flush()
            super().send_400_response(msg)
        else:
            self._answer(self._refusal)

    def _answer(self, status: int) -> None:
        """Write a whole response with no body and close: the request cannot be read to its end."""
        self._disarm()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.append(b"content-length: 0\r\nconnection: close\r\n\r\n")
        if self._one_write is not None:
            self._one_write.flush()  # whatever a cycle wrote goes first
        self.transport.write(b"".join(head))
        self.transport.close()
