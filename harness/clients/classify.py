"""Every exchange ends in exactly one outcome (harness.scenario.model.Outcome), most specific first."""

from __future__ import annotations

import errno
import socket

import requests
import urllib3.exceptions

from harness.scenario.model import Outcome


def classify_status(status: int) -> Outcome:
    if 200 <= status < 400:
        return "ok"
    if status == 429:
        return "http_429"
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return "protocol_error"


_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


def classify_exception(exc: BaseException) -> Outcome:
    """Map what requests/urllib3 raise onto an outcome. Order matters: requests wraps urllib3 wraps OS errors,
    and e.g. a ConnectTimeout is both a Timeout and a ConnectionError."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect_error"  # nothing was sent: as safe to retry as a refused connection
    if isinstance(exc, requests.exceptions.Timeout | socket.timeout | TimeoutError):
        return "timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "reset" if _caused_by_reset(exc) else "protocol_error"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _caused_by_reset(exc):
            return "reset"
        if _caused_by(exc, urllib3.exceptions.ProtocolError) and not _caused_by(
            exc, urllib3.exceptions.NewConnectionError
        ):
            return "reset"  # "Connection aborted": the peer went away mid-exchange
        return "connect_error"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, requests.exceptions.RequestException | ValueError):
        # requests' exceptions are OSErrors, so they must be caught before the socket errors below:
        # what is left of them (bad JSON, too many redirects, bad URL) is not a network failure
        return "protocol_error"
    if isinstance(exc, OSError):
        return "connect_error"
    return "protocol_error"


def _chain(exc: BaseException):
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException) and id(arg) not in seen:
                yield from _chain(arg)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            yield from _chain(reason)
        current = current.__cause__ or current.__context__


def _caused_by(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    return any(isinstance(e, kind) for e in _chain(exc))


def _caused_by_reset(exc: BaseException) -> bool:
    return any(
        isinstance(e, ConnectionResetError | BrokenPipeError | ConnectionAbortedError)
        or (isinstance(e, OSError) and e.errno in _RESET_ERRNOS)
        for e in _chain(exc)
    )
