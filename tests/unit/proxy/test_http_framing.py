"""Request boundaries (harness/proxy/http.py RequestFramer), no sockets."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.proxy.http import TRACKED, HttpMatch, Request, RequestFramer, Segment
from harness.proxy.sieve import RequestSieve

GET = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
POST = b"POST /token HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = (
    b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n"
)


def _requests(segments: list[Segment]) -> tuple[list[tuple[str, str, bytes]], bytes]:
    """(method, path, bytes) per request, from segments."""
    out: list[tuple[str, str, bytes]] = []
    current: Request | None = None
    buf = b""
    for data, req, end in segments:
        buf += data
        current = req or current
        if end:
            assert current is not None, "a request ends only after it began"
            out.append((current.method, current.path, buf))
            buf, current = b"", None
    return out, buf


def request_of(segment: Segment) -> Request:
    """The request a segment belongs to, where the test expects one."""
    assert segment[1] is not None, segment
    return segment[1]


def test_content_length_body_is_part_of_the_request() -> None:
    framer = RequestFramer()
    reqs, rest = _requests(framer.feed(POST))
    assert reqs == [("POST", "/token", POST)] and rest == b""


def test_chunked_body_with_extension_and_trailer() -> None:
    framer = RequestFramer()
    reqs, rest = _requests(framer.feed(CHUNKED))
    assert reqs == [("POST", "/upload", CHUNKED)] and rest == b""


def test_two_requests_in_one_buffer_are_split_exactly() -> None:
    framer = RequestFramer()
    reqs, _rest = _requests(framer.feed(POST + GET))
    assert reqs == [("POST", "/token", POST), ("GET", "/a", GET)]
    assert framer.requests == 2


def test_three_kinds_byte_by_byte() -> None:
    stream = CHUNKED + POST + GET
    framer = RequestFramer()
    segments = []
    for i in range(len(stream)):
        segments += framer.feed(stream[i : i + 1])
    reqs, _rest = _requests(segments)
    assert [(m, p) for m, p, _ in reqs] == [("POST", "/upload"), ("POST", "/token"), ("GET", "/a")]
    assert b"".join(r[2] for r in reqs) == stream


def test_incomplete_head_is_held_until_complete() -> None:
    framer = RequestFramer()
    assert framer.feed(GET[:10]) == []
    segments = framer.feed(GET[10:])
    assert segments == [(GET, segments[0][1], True)]
    assert request_of(segments[0]).path == "/a" and not request_of(segments[0]).partial


def test_without_hold_every_byte_goes_out_at_once_and_the_request_is_partial() -> None:
    framer = RequestFramer()
    first = framer.feed(POST[:10], hold=False)
    assert first == [(POST[:10], None, False)]
    rest = framer.feed(POST[10:], hold=True)
    assert b"".join(s[0] for s in first + rest) == POST
    assert rest[-1][2] and request_of(rest[-1]).partial  # already partly forwarded: never faulted


def test_body_split_over_chunks_keeps_the_request() -> None:
    framer = RequestFramer()
    a = framer.feed(POST[:-3])
    b = framer.feed(POST[-3:] + GET)
    assert a[-1][2] is False and request_of(a[-1]).method == "POST"
    assert b[0] == (b"llo", a[-1][1], True)
    assert request_of(b[1]).method == "GET" and b[1][2]


def test_track_fast_path_counts_requests_without_holding() -> None:
    framer = RequestFramer()
    assert framer.track(GET) is True
    assert framer.track(POST[:-2]) is False
    assert framer.track(POST[-2:]) is True
    assert framer.requests == 2
    assert framer.can_track


def test_tracked_requests_are_never_faulted() -> None:
    framer = RequestFramer()
    segments = framer.feed(POST, hold=False)
    assert segments == [(POST, TRACKED, True)] and TRACKED.partial


def test_non_http_bytes_pass_untouched_and_the_connection_turns_opaque() -> None:
    framer = RequestFramer()
    postgres_startup = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
    assert framer.feed(postgres_startup) == [(postgres_startup, None, False)]
    assert framer.opaque
    assert framer.feed(GET) == [(GET, None, False)]


def test_redis_inline_command_is_not_http() -> None:
    framer = RequestFramer()
    assert framer.feed(b"PING\r\n") == [(b"PING\r\n", None, False)]
    assert framer.opaque


def test_ambiguous_framing_turns_opaque_rather_than_guessing() -> None:
    framer = RequestFramer()
    bad = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    assert framer.feed(bad) == [(bad, None, False)]
    assert framer.opaque


def test_upgrade_turns_opaque_after_the_request() -> None:
    framer = RequestFramer()
    ws = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    segments = framer.feed(ws + b"\x81\x05hello")
    assert segments[0][0] == ws and segments[0][2]
    assert segments[1] == (b"\x81\x05hello", None, False)
    assert framer.opaque


def test_absolute_form_target_and_keep_alive() -> None:
    framer = RequestFramer()
    [(_data, req, _end)] = framer.feed(b"GET http://idp.example/oauth2/token?x=1 HTTP/1.0\r\nHost: h\r\n\r\n")
    assert req is not None
    assert req.path == "/oauth2/token" and req.keep_alive is False
    [(_data, req, _end)] = framer.feed(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert req is not None
    assert req.keep_alive is False


# --- skim: the fast path while HTTP toxics are on the pipe (one matching only POST /token) ----------


def _sieve(*matches: HttpMatch) -> RequestSieve:
    sieve = RequestSieve.of(matches)
    assert sieve is not None  # None only when a toxic matches every request
    return sieve


TOKEN_ONLY = _sieve(HttpMatch(path="/token", method="POST"))
OTHER = b"GET /other?q=/token HTTP/1.1\r\nHost: h\r\n\r\n"
POST_OTHER = b"POST /other HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\n\r\nhello"


def test_skim_counts_requests_no_toxic_can_match_pipelined_ones_included() -> None:
    framer = RequestFramer()
    assert framer.skim(OTHER, TOKEN_ONLY) is True
    assert framer.skim(OTHER + POST_OTHER + GET, TOKEN_ONLY) is True
    assert framer.skim(POST_OTHER[:-2], TOKEN_ONLY) is False  # inside the body
    assert framer.skim(POST_OTHER[-2:] + OTHER, TOKEN_ONLY) is True
    assert framer.requests == 6 and framer.can_track


@pytest.mark.parametrize(
    "data",
    [
        POST,  # a toxic may match it
        OTHER + POST,  # one of the pipelined requests may match
        GET[:-2],  # an incomplete head
        b"POST /other HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"GET http://idp.example/token HTTP/1.1\r\n\r\n",  # absolute form
        b"GET  /other HTTP/1.1\r\n\r\n",  # a request line that feed turns opaque
        b"\r\n" + OTHER,  # a stray CRLF before the request
        b"POST /other HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    ],
)
def test_skim_leaves_anything_else_to_feed_and_changes_nothing(data: bytes) -> None:
    framer, fresh = RequestFramer(), RequestFramer()
    assert framer.skim(data, TOKEN_ONLY) is None
    assert repr(framer.feed(data)) == repr(fresh.feed(data))
    assert (framer.requests, framer.opaque) == (fresh.requests, fresh.opaque)


def test_a_body_skimmed_in_part_ends_through_feed_and_the_next_request_is_matched() -> None:
    framer = RequestFramer()
    assert framer.skim(POST_OTHER[:-2], TOKEN_ONLY) is False
    assert framer.skim(POST_OTHER[-2:] + POST, TOKEN_ONLY) is None  # the next one may match
    tail, token = framer.feed(POST_OTHER[-2:] + POST)
    assert tail == (b"lo", TRACKED, True)
    assert request_of(token).path == "/token" and not request_of(token).partial and token[2]
    assert framer.requests == 2


def test_framing_headers_are_found_whatever_their_case() -> None:
    sized = b"POST /x HTTP/1.1\r\nCONTENT-length: 2\r\n\r\n"
    chunked = b"POST /x HTTP/1.1\r\nTransfer-ENCODING: chunked\r\n\r\n"
    framer = RequestFramer()
    assert (framer.track(sized), framer.track(b"ab")) == (False, True)
    assert (framer.track(chunked), framer.track(b"2\r\nab\r\n0\r\n\r\n")) == (False, True)
    assert (framer.skim(sized, TOKEN_ONLY), framer.skim(b"ab", TOKEN_ONLY)) == (False, True)
    assert framer.skim(chunked, TOKEN_ONLY) is None
    assert framer.requests == 3


# --- track: the plain path's shortcut frames exactly as feed does ---------------------------------

_STREAM_PARTS = [
    GET, POST, CHUNKED,
    b"GET /b HTTP/1.1\r\nHost: h\r\nUser-Agent: x\r\nX-Harness-Op-Id: 1f\r\n\r\n",
    b"GET /c HTTP/1.0\r\ncontent-LENGTH: 3\r\n\r\nabc",
    b"PUT /d HTTP/1.1\r\nTRANSFER-encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
    b"GET /e HTTP/1.1\r\nHost: h\r\n\r\n\r\n",  # a stray CRLF after the head
    b"get /lower HTTP/1.1\r\n\r\n",  # not a method we know: the connection turns opaque
    b"CONNECT idp:443 HTTP/1.1\r\nHost: idp:443\r\n\r\n\x16\x03\x01",
    b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x00",
]


def _chunks(parts: list[bytes], data: st.DataObject) -> list[bytes]:
    stream = b"".join(parts)
    # cuts anywhere, and often where a shortcut could go wrong: at the end of a part or of a head
    edges, at = [], 0
    for part in parts:
        edges += [at + part.find(b"\r\n\r\n") + 4, at + len(part)]
        at += len(part)
    inner = [e for e in edges if 0 < e < len(stream)]
    anywhere = st.integers(1, len(stream) - 1)
    cuts = sorted(data.draw(st.sets(st.sampled_from(inner) | anywhere if inner else anywhere, max_size=8)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_STREAM_PARTS), min_size=1, max_size=6), st.data())
def test_track_counts_and_ends_requests_exactly_as_feed_does(parts: list[bytes], data: st.DataObject) -> None:
    chunks = _chunks(parts, data)
    tracked, fed = RequestFramer(), RequestFramer()
    for chunk in chunks:
        ended = tracked.track(chunk)
        if ended is None:  # what Pipe does: feed takes what track cannot
            segments = tracked.feed(chunk, False)
            ended = bool(segments) and segments[-1][2]
        reference = fed.feed(chunk, False)
        assert ended == (bool(reference) and reference[-1][2]), chunk
        assert (tracked.requests, tracked.opaque) == (fed.requests, fed.opaque), chunk


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*_STREAM_PARTS, OTHER, POST_OTHER]), min_size=1, max_size=6), st.data())
def test_skim_counts_and_ends_requests_exactly_as_feed_does(parts: list[bytes], data: st.DataObject) -> None:
    skimmed, fed = RequestFramer(), RequestFramer()
    for chunk in _chunks(parts, data):
        ended = skimmed.skim(chunk, TOKEN_ONLY)
        if ended is None:  # what Pipe does: feed takes what skim cannot
            segments = skimmed.feed(chunk)
            ended = bool(segments) and segments[-1][2]
        reference = fed.feed(chunk)
        assert ended == (bool(reference) and reference[-1][2]), chunk
        assert (skimmed.requests, skimmed.opaque) == (fed.requests, fed.opaque), chunk
