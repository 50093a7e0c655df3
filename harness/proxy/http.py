"""HTTP/1.x awareness for the client -> server stream: where each request starts and ends, what it
asks for, whether a fault matches it, and the response the proxy sends instead of forwarding it.

Why a framer of our own rather than httptools' parser for boundaries: httptools reports that a
message is complete but not at which byte offset (only upgrades carry one), and a proxy that swallows
one request and forwards the next needs the offset. Both cost about 0.8 µs per small request here.
httptools still parses absolute-form targets (`GET http://host/path`).

The framer never corrupts what it does not understand: anything that does not look like an HTTP/1.x
request (another protocol, an upgrade, a malformed head) turns the connection opaque, and from then on
its bytes pass untouched and no HTTP fault applies to it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import httptools
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

if TYPE_CHECKING:
    from harness.proxy.sieve import RequestSieve

MAX_HEAD_BYTES = 64 * 1024
MAX_LINE_BYTES = 4 * 1024

_METHOD_RE = re.compile(rb"[A-Z][A-Z0-9_-]{0,31}\Z")
# Headers that frame a body or may end HTTP on the connection: a head with none of them is a whole
# request. One search is cheaper than three `in` tests on a lowercased copy.
_FRAMING_HEADER = re.compile(rb"\r\n(?:content-length|transfer-encoding|upgrade):", re.IGNORECASE)
# The end of a head or a framing header, whichever comes first (the header's first letter as a class: a
# literal-ish start keeps the scan fast).
_FRAMING_OR_END = re.compile(rb"\r\n(?:\r\n|[CcTtUu](?i:ontent-length|ransfer-encoding|pgrade):)")
# The request line of a head `track` takes as it is (one whole head, no framing header): a method (not
# CONNECT, whose stream stops being HTTP), a target, HTTP/1.x. Stricter than `_parse_head`, never looser.
_BARE_REQUEST_LINE = re.compile(rb"(?!CONNECT )[A-Z][A-Z0-9_-]{0,31} [^ \r\n]+ HTTP/1\.")
# A request line as `skim` takes it: method and the path of an origin-form target (groups), then the
# query, version and CRLF. Stricter than `_parse_head` (one space apart, no CR or LF inside), never looser.
_SKIM_LINE = re.compile(rb"([A-Z][A-Z0-9_-]{0,31}) (/[^ \r\n?]*)[^ \r\n]* HTTP/1\.[^ \r\n]*\r\n")


class Request:
    """One request seen on a connection. `partial` means some of its bytes were forwarded before the
    proxy knew it was a request (an HTTP toxic added mid-request): such a request is never faulted."""

    __slots__ = ("drop", "fault_response", "index", "keep_alive", "method", "partial", "path", "target")

    def __init__(self, method: str, target: str, path: str, keep_alive: bool, index: int):
        self.method = method
        self.target = target
        self.path = path
        self.keep_alive = keep_alive
        self.index = index
        self.partial = False
        # Set by http_error when it decides to answer this request itself: every byte of it is then
        # swallowed (even if the toxic is removed meanwhile) and this is written back at its end.
        self.fault_response: bytes | None = None
        # With a fault_response of b"": "close" or "reset" ends the connection instead of answering.
        self.drop = ""

    def __repr__(self) -> str:
        return f"Request({self.method} {self.target} #{self.index})"


# Stands for every request framed while no HTTP toxic was on the connection: those went out as they
# came, so no toxic may act on them (partial).
TRACKED = Request("", "", "", True, -1)
TRACKED.partial = True

# A piece of the client stream: bytes, the request they belong to (None: not HTTP / between
# requests), and whether they end that request.
Segment = tuple[bytes, Request | None, bool]

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _OPAQUE = range(6)


def _path_of(target: bytes) -> str:
    if target.startswith(b"/"):
        return target.split(b"?", 1)[0].decode("latin-1")
    if b"://" in target:
        try:
            path = httptools.parse_url(target).path
        except httptools.HttpParserInvalidURLError:
            return ""
        return (path or b"/").decode("latin-1")
    return target.decode("latin-1")  # "*" (OPTIONS) or authority-form (CONNECT)


class RequestFramer:
    """Splits the client -> server byte stream of one connection at request boundaries.

    `feed(data, hold=True)` returns segments covering `data` (and any held bytes), in order. With
    `hold`, an incomplete request head is held back until it is complete, so a fault can still decide
    not to forward it; without `hold` (no HTTP toxic on the proxy) every byte is returned at once and
    the framer only keeps its place, so toxics added later apply from the next request on.
    """

    __slots__ = ("_emitted", "_head", "_line", "_opaque_after", "_remaining", "_state", "current", "requests")

    def __init__(self) -> None:
        self._state = _HEAD
        self._head = b""  # an incomplete head, kept to be parsed once complete
        self._emitted = 0  # how many bytes of _head were already returned (not held)
        self._line = b""  # an incomplete chunk-size or trailer line
        self._remaining = 0
        self._opaque_after = False  # an upgrade or CONNECT: the stream may stop being HTTP after it
        self.current: Request | None = None
        self.requests = 0

    @property
    def opaque(self) -> bool:
        return self._state == _OPAQUE

    def at_plain_boundary(self) -> int | None:
        """Where the native relay can take over framing (harness/proxy/_relay.c): the bytes of the current
        request's body still to come (0: between requests), or None if the framer is anywhere the relay's
        stricter framer cannot carry on from (a head or chunk under way, an opaque stream, a request being
        answered by a fault)."""
        if self._head or self._opaque_after:
            return None
        if self._state == _HEAD:
            return 0
        if self._state == _BODY and (self.current is None or self.current.fault_response is None):
            return self._remaining
        return None

    def resume(self, requests: int, body_left: int) -> None:
        """Takes framing back from the native relay: `requests` more were framed there, and the stream is
        between requests or `body_left` bytes into a body no toxic may act on (it started unseen)."""
        self.requests += requests
        self._head = b""
        if body_left:
            self._state, self._remaining, self.current = _BODY, body_left, TRACKED
        else:
            self._state, self._remaining, self.current = _HEAD, 0, None

    def feed(self, data: bytes, hold: bool = True) -> list[Segment]:
        if self._state == _OPAQUE:
            return [(data, None, False)]
        if self._head:
            full = self._head + data
            start = self._emitted
            self._head = b""
            self._emitted = 0
        else:
            full = data
            start = 0
        out: list[Segment] = []
        pos = 0
        n = len(full)
        while pos < n:
            state = self._state
            if state == _OPAQUE:
                break
            if state == _HEAD:
                while full.startswith(b"\r\n", pos):  # stray CRLF between requests (RFC 9112 2.2)
                    pos += 2
                if pos >= n:
                    break
                end = full.find(b"\r\n\r\n", pos)
                if end < 0:
                    if n - pos > MAX_HEAD_BYTES or not _plausible_request_start(full, pos):
                        return self._go_opaque(out, full, start)
                    if start > pos or not hold:  # already partly forwarded: no reason to hold the rest
                        if start < n:
                            out.append((full[start:], None, False))
                        self._emitted = n - pos
                    else:
                        if start < pos:
                            out.append((full[start:pos], None, False))
                        self._emitted = 0
                    self._head = full[pos:]
                    return out
                request = self._parse_head(full, pos, end + 2, hold)
                if request is None:
                    return self._go_opaque(out, full, start)
                if start > pos and request is not TRACKED:
                    request.partial = True
                self.current = request
                self.requests += 1
                pos = end + 4
                if self._state == _HEAD:  # no body
                    start = self._end_request(out, full, start, pos)
            elif state == _BODY:
                take = min(self._remaining, n - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    start = self._end_request(out, full, start, pos)
            elif state == _CHUNK_DATA:
                take = min(self._remaining, n - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _CHUNK_SIZE
            else:  # _CHUNK_SIZE or _TRAILER: a line at a time
                nl = full.find(b"\n", pos)
                if nl < 0:
                    self._line += full[pos:]
                    if len(self._line) > MAX_LINE_BYTES:
                        return self._go_opaque(out, full, start)
                    pos = n
                    break
                line = (self._line + full[pos:nl]).rstrip(b"\r")
                self._line = b""
                pos = nl + 1
                if state == _CHUNK_SIZE:
                    try:
                        size = int(line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        return self._go_opaque(out, full, start)
                    if size == 0:
                        self._state = _TRAILER
                    else:
                        self._remaining = size + 2  # data and its CRLF
                        self._state = _CHUNK_DATA
                elif not line:
                    start = self._end_request(out, full, start, pos)
        if start < n:
            out.append((full[start:n], self.current, False))
        return out

    def _end_request(self, out: list[Segment], full: bytes, start: int, pos: int) -> int:
        out.append((full[start:pos], self.current, True))
        self._state = _OPAQUE if self._opaque_after else _HEAD
        self.current = None
        return pos

    def _go_opaque(self, out: list[Segment], full: bytes, start: int) -> list[Segment]:
        self._state = _OPAQUE
        self._head = b""
        self._line = b""
        self.current = None
        if start < len(full):
            out.append((full[start:], None, False))
        return out

    def _parse_head(self, full: bytes, pos: int, end: int, hold: bool) -> Request | None:
        """Parses the head in full[pos:end] (end just past the last header's CRLF) and sets the body
        state; None if it is not a request we can frame with certainty. Without `hold` nothing can
        be faulted, so no Request is built (the shared TRACKED stands for it)."""
        line_end = full.find(b"\r\n", pos, end)
        if full.find(b" HTTP/1.", pos, line_end) < 0:
            return None
        head = full[pos:end]
        lower = head.lower()
        te = lower.find(b"\r\ntransfer-encoding:")
        cl = lower.find(b"\r\ncontent-length:")
        self._opaque_after = b"\r\nupgrade:" in lower or head.startswith(b"CONNECT ")
        if te >= 0:
            value = head[te + 20 : head.find(b"\r\n", te + 20)]
            if lower.find(b"\r\ntransfer-encoding:", te + 1) >= 0 or not value.strip().lower().endswith(b"chunked"):
                return None  # a request body must be chunked-framed (RFC 9112 6.3)
            self._state = _CHUNK_SIZE
        elif cl >= 0:
            value = head[cl + 17 : head.find(b"\r\n", cl + 17)].strip()
            if lower.find(b"\r\ncontent-length:", cl + 1) >= 0 or not value.isdigit():
                return None
            self._remaining = int(value)
            self._state = _BODY if self._remaining else _HEAD
        else:
            self._state = _HEAD
        if not hold:
            return TRACKED
        parts = head[: line_end - pos].split(b" ")
        if len(parts) != 3 or not _METHOD_RE.match(parts[0]):
            return None
        conn = lower.find(b"\r\nconnection:")
        conn_value = lower[conn + 13 : lower.find(b"\r\n", conn + 13)] if conn >= 0 else b""
        keep_alive = b"keep-alive" in conn_value if parts[2] == b"HTTP/1.0" else b"close" not in conn_value
        target = parts[1]
        return Request(parts[0].decode("ascii"), target.decode("latin-1"), _path_of(target), keep_alive, self.requests)

    def track(self, data: bytes) -> bool | None:
        """Keeps count of boundaries while nothing is held back (no HTTP toxic): the caller forwards
        `data` as it is. True if `data` ends a request; None, with nothing changed, when `feed` must
        take it (an incomplete head is kept, or a request is being swallowed). Runs for every chunk of
        every connection with no toxic, so the usual chunk (one whole head, no body) costs two regexes."""
        state = self._state
        if state == _HEAD:
            if self._head:
                return None
            # one whole head, the usual case: its first CRLF that is followed by another CRLF or by a
            # framing header is the one that ends the head and `data`
            first = _FRAMING_OR_END.search(data)
            if first is not None and first.start() == len(data) - 4 and _BARE_REQUEST_LINE.match(data) is not None:
                self.requests += 1
                return True
        elif state == _BODY:
            current = self.current
            if current is not None and current.fault_response is not None:
                return None
            n = len(data)
            if n < self._remaining:
                self._remaining -= n
                return False
            if n == self._remaining:
                self._remaining = 0
                self._state = _OPAQUE if self._opaque_after else _HEAD
                self.current = None
                return True
        elif state == _OPAQUE:
            return False
        elif (current := self.current) is not None and current.fault_response is not None:
            return None
        segments = self.feed(data, False)
        return bool(segments) and segments[-1][2]

    def skim(self, data: bytes, sieve: RequestSieve) -> bool | None:
        """`track` for a pipe with HTTP toxics: when every request that starts in `data` has its whole
        head there, frames by Content-Length or nothing, and is one `sieve` says no toxic can match,
        keeps count and returns whether `data` ends a request (the caller forwards it as it is). Else
        None, with nothing changed: `data` must go through `feed`. Accepts only what `feed` would
        frame the same way (anything unusual is left to it). Needs no `can_track` first."""
        if self._head:
            return None
        n = len(data)
        pos = 0
        if self._state == _HEAD:  # the usual chunk first: one whole head, no body (as in `track`)
            first = _FRAMING_OR_END.search(data)
            if first is not None and first.start() == n - 4:
                line = _SKIM_LINE.match(data)
                if line is None:
                    return None
                method, path = line.groups()
                if method == b"CONNECT" or sieve.may_match(method, path):
                    return None
                self.requests += 1
                self._opaque_after = False
                self.current = None
                return True
        elif self._state == _BODY:  # the rest of a request that went through here or `track`
            if self.current is not TRACKED:
                return None
            pos = self._remaining
            if n <= pos:
                self._remaining = pos - n
                if pos > n:
                    return False
                self._state = _OPAQUE if self._opaque_after else _HEAD
                self.current = None
                return True
            if self._opaque_after:
                return None
        elif self._state != _HEAD:
            return None
        count = 0
        while pos < n:
            end = data.find(b"\r\n\r\n", pos)
            line = _SKIM_LINE.match(data, pos) if end >= 0 else None
            if line is None:
                return None
            method, path = line.groups()
            if sieve.may_match(method, path) or method == b"CONNECT":
                return None
            start, pos = pos, end + 4
            if _FRAMING_HEADER.search(data, start, end + 2) is not None:  # a body, or not HTTP after
                head = data[start : end + 2].lower()
                if b"\r\ntransfer-encoding:" in head or b"\r\nupgrade:" in head:
                    return None
                cl = head.find(b"\r\ncontent-length:")
                value = head[cl + 17 : head.find(b"\r\n", cl + 17)].strip()
                if head.find(b"\r\ncontent-length:", cl + 1) >= 0 or not value.isdigit():
                    return None
                pos += int(value)
            count += 1
        self.requests += count
        self._opaque_after = False
        if pos > n:  # inside the last request's body
            self._state = _BODY
            self._remaining = pos - n
            self.current = TRACKED
            return False
        self._state = _HEAD
        self.current = None
        return True

    @property
    def can_track(self) -> bool:
        """Nothing held and no request being swallowed: `track` may be used."""
        current = self.current
        return not self._head and (current is None or current.fault_response is None)


def _plausible_request_start(buf: bytes, pos: int) -> bool:
    """Could buf[pos:] be the start of a request head? (A method token, then a space.)"""
    space = buf.find(b" ", pos, pos + 33)
    if space < 0:
        return len(buf) - pos < 33 and bool(re.match(rb"[A-Z][A-Z0-9_-]*\Z", buf[pos : pos + 32]))
    return bool(_METHOD_RE.match(buf[pos:space]))


# --- matching ------------------------------------------------------------------------------------


class HttpMatch(BaseModel):
    """Which requests an HTTP toxic applies to. Empty method or path: any. The path is compared
    without the query string; `regex` uses re.search (anchor with ^...$ for a whole-path match)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = ""
    path: str = ""
    match: Literal["exact", "prefix", "regex"] = "exact"
    _regex: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    def model_post_init(self, context: object, /) -> None:
        if self.match == "regex" and self.path:
            try:
                self._regex = re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a valid regular expression: {exc}") from exc

    def matches(self, request: Request) -> bool:
        if self.method and request.method != self.method:
            return False
        if not self.path:
            return True
        if self.match == "exact":
            return request.path == self.path
        if self.match == "prefix":
            return request.path.startswith(self.path)
        assert self._regex is not None
        return self._regex.search(request.path) is not None


Probability = Field(default=1.0, ge=0.0, le=1.0)

