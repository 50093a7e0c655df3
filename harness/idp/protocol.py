"""uvicorn's httptools protocol with the limits it lacks (uvicorn 0.55 has none of these; its only timer
is the keep-alive one, armed after a response):

- the request head (request line and headers) is capped: a URL over `max_url_bytes` is 414, more than
  `max_headers` headers or more than `max_header_bytes` of them is 431, both answered as the bytes arrive,
  so an endless header costs no memory;
- a head must be complete within `header_timeout_s` of its first byte (or of the connection, for one that
  sends nothing at all), and a body within `body_timeout_s` of its head: a slow sender gets 408 and the
  connection is closed, so slowloris connections cannot pile up.

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
        self.transport.write(b"".join(head))
        self.transport.close()
