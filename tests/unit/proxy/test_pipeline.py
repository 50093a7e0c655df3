"""Pipe wiring: what the source's data_received calls, as stages come and go and the sink changes."""

from __future__ import annotations

import itertools
import random

from harness.proxy.pipeline import Pipe, Stage
from harness.proxy.registry import create_toxic

from .fakes import FakeLink, ManualClock, Sink, context, upstream_pipe


def test_a_pipe_with_nothing_on_the_way_hands_the_peers_write_to_the_source() -> None:
    sink = Sink()
    pipe = Pipe(sink.write, sink.write_eof, FakeLink())
    assert pipe.entry == sink.write
    stage = Stage(context())
    pipe.set_stages([stage], False)
    assert pipe.entry == pipe.feed
    pipe.entry(b"a")
    pipe.set_stages([], False)
    assert pipe.entry == sink.write
    pipe.entry(b"b")
    assert sink.data == b"ab"


def test_set_write_rebinds_the_entry() -> None:
    first, second = Sink(), Sink()
    pipe = Pipe(first.write, first.write_eof, FakeLink())
    pipe.set_write(second.write)
    pipe.entry(b"x")
    assert (first.data, second.data) == (b"", b"x")
    pipe.set_stages([Stage(context())], False)
    pipe.close()
    assert pipe.entry == second.write


def test_the_framed_direction_never_skips_the_framer() -> None:
    sink = Sink()
    pipe = upstream_pipe(sink, FakeLink())
    assert pipe.entry != sink.write
    pipe.set_write(sink.write)
    assert pipe.entry != sink.write
    pipe.entry(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
    pipe.entry(b"POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nab")
    pipe.set_stages([Stage(context())], False)
    pipe.entry(b"GET /c HTTP/1.1\r\n\r\n")
    assert pipe.framer is not None and pipe.framer.requests == 3


# --- requests no HTTP toxic can match skip the stages; the guarantees stay ----------------------

TOKEN = b"POST /token HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
OTHER = b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n"
POST_OTHER = b"POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED_OTHER = b"POST /other HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"


def _stage(type_name: str, link: FakeLink, clock: ManualClock | None = None, **attributes: object) -> Stage:
    return create_toxic(type_name, attributes).stage(context(clock, link=link))


def test_an_http_toxic_added_mid_keep_alive_connection_applies_from_the_next_request() -> None:
    sink, link = Sink(), FakeLink()
    pipe = upstream_pipe(sink, link)
    idle = _stage("http_error", link, path="/never")
    pipe.set_stages([idle], hold=True)
    pipe.feed(TOKEN)
    assert sink.data == TOKEN
    token = _stage("http_error", link, path="/token", method="POST")
    pipe.set_stages([idle, token], hold=True)
    link.awaiting = False  # the response came back
    pipe.feed(TOKEN)
    pipe.feed(OTHER)
    assert sink.data == TOKEN + OTHER and len(link.responses) == 1
    assert token.ctx.counters.requests_matched == token.ctx.counters.faults_injected == 1
    assert idle.ctx.counters.requests_matched == 0


def test_a_toxic_added_inside_a_forwarded_body_spares_that_request_not_the_next() -> None:
    sink, link = Sink(), FakeLink()
    pipe = upstream_pipe(sink, link)
    pipe.set_stages([_stage("http_error", link, path="/never")], hold=True)
    pipe.feed(POST_OTHER[:-3])
    pipe.set_stages([_stage("http_error", link, path="/other")], hold=True)
    pipe.feed(POST_OTHER[-3:])
    assert sink.data == POST_OTHER and link.responses == []  # partly forwarded before: never faulted
    link.awaiting = False  # its response came back
    pipe.feed(POST_OTHER)
    assert sink.data == POST_OTHER and len(link.responses) == 1


def test_pipelined_requests_are_each_matched_and_counted() -> None:
    sink, link = Sink(), FakeLink()
    pipe = upstream_pipe(sink, link)
    stage = _stage("http_error", link, path="/token")
    pipe.set_stages([stage], hold=True)
    pipe.feed(OTHER + POST_OTHER + OTHER)
    pipe.feed(OTHER + TOKEN + OTHER)  # the first response is not back: /token is forwarded, skipped
    link.awaiting = False
    pipe.feed(TOKEN + OTHER)
    assert sink.data == OTHER + POST_OTHER + OTHER + OTHER + TOKEN + OTHER + OTHER
    assert len(link.responses) == 1
    assert pipe.framer is not None and pipe.framer.requests == 8
    counters = stage.ctx.counters
    assert (counters.requests_matched, counters.faults_skipped, counters.faults_injected) == (2, 1, 1)


def test_a_request_no_toxic_matches_waits_behind_a_delayed_one() -> None:
    clock, sink, link = ManualClock(), Sink(), FakeLink()
    pipe = upstream_pipe(sink, link)
    pipe.set_stages([_stage("http_latency", link, clock, path="/token", latency=200)], hold=True)
    pipe.feed(TOKEN)
    pipe.feed(OTHER)
    assert sink.data == b""
    clock.advance(0.2)
    assert sink.data == TOKEN + OTHER
    pipe.feed(OTHER)
    assert sink.data == TOKEN + OTHER + OTHER


def test_skipping_the_stages_changes_nothing_a_client_or_the_counters_can_see() -> None:
    # The same random stream, read in random pieces (mostly a request each, some pipelined, some cut
    # inside a head or body), through a pipe whose toxic matches only POST /token and through one that
    # also has a toxic matching every request (which never fires), so every request there is framed
    # and goes through the stages.
    rng = random.Random(5)
    kinds = [TOKEN, OTHER, POST_OTHER, CHUNKED_OTHER, b"GET /token?x=1 HTTP/1.1\r\n\r\n"]
    requests = [rng.choice(kinds) for _ in range(400)]
    stream = b"".join(requests)
    boundaries = list(itertools.accumulate(map(len, requests)))[:-1]
    cuts = sorted({at for at in boundaries if rng.random() < 0.8} | set(rng.sample(range(1, len(stream)), 80)))
    results = []
    for catch_all in (False, True):
        sink, link = Sink(), FakeLink()
        pipe = upstream_pipe(sink, link)
        token = _stage("http_error", link, path="/token", method="POST", probability=0.5)
        stages = [token, _stage("http_error", link, probability=0.0)] if catch_all else [token]
        pipe.set_stages(stages, hold=True)
        for i, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(stream)], strict=True)):
            link.awaiting = link.awaiting and i % 3 != 0  # now and then the response is back
            pipe.feed(stream[start:end])
        counters = token.ctx.counters
        assert pipe.framer is not None
        results.append((sink.data, link.responses, pipe.framer.requests, vars(counters)))
    assert results[0] == results[1]
    assert results[0][2] == 400 and results[0][3]["faults_injected"] > 0
