"""Pipe wiring: what the source's data_received calls, as stages come and go and the sink changes."""

from __future__ import annotations

from harness.proxy.pipeline import Pipe, Stage

from .fakes import FakeLink, Sink, context, upstream_pipe


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


def test_the_framed_direction_always_goes_through_feed() -> None:
    sink = Sink()
    pipe = upstream_pipe(sink, FakeLink())
    assert pipe.entry == pipe.feed
    pipe.set_write(sink.write)
    assert pipe.entry == pipe.feed
