"""Toxiproxy's TCP toxics on in-memory streams with a manual clock (semantics from its toxics/*.go)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from harness.proxy.pipeline import Stage
from harness.proxy.registry import InvalidAttributes, create_toxic
from harness.proxy.toxics.slicer import SlicerToxic

from .fakes import FakeLink, ManualClock, Sink, context


def _stage(type_name: str, **attributes) -> tuple[Stage, Sink, ManualClock, FakeLink]:
    clock, link, sink = ManualClock(), FakeLink(), Sink()
    stage = create_toxic(type_name, attributes).stage(context(clock, link=link))
    stage.next = lambda data, req, end: sink.write(data)
    stage.next_eof = sink.write_eof
    return stage, sink, clock, link


def test_bandwidth_releases_bytes_at_the_rate() -> None:
    stage, sink, clock, _ = _stage("bandwidth", rate=10)  # 10 KB/s = 10 bytes per ms
    stage.feed(b"x" * 100, None, False)  # needs 10 ms
    stage.feed(b"y" * 50, None, False)  # 5 ms more
    clock.advance(0.0099)
    assert sink.data == b""
    clock.advance(0.0002)
    assert sink.data == b"x" * 100
    clock.advance(0.005)
    assert sink.data.endswith(b"y" * 50)


def test_bandwidth_cuts_large_chunks_into_100ms_pieces() -> None:
    stage, sink, clock, _ = _stage("bandwidth", rate=1)  # 100 bytes per 100 ms
    stage.feed(b"z" * 250, None, False)
    clock.advance(0.1001)
    assert len(sink.data) == 100
    clock.advance(0.1)
    assert len(sink.data) == 200
    clock.advance(0.05)
    assert len(sink.data) == 250


def test_bandwidth_zero_is_unlimited() -> None:
    stage, sink, _, _ = _stage("bandwidth", rate=0)
    stage.feed(b"abc", None, False)
    assert sink.data == b"abc"


def test_slow_close_passes_data_and_holds_the_close() -> None:
    stage, sink, clock, _ = _stage("slow_close", delay=300)
    stage.feed(b"data", None, False)
    stage.eof()
    assert sink.data == b"data" and not sink.eof
    clock.advance(0.299)
    assert not sink.eof
    clock.advance(0.002)
    assert sink.eof


def test_timeout_swallows_and_closes_after_idle_time() -> None:
    stage, sink, clock, link = _stage("timeout", timeout=100)
    clock.advance(0.06)
    stage.feed(b"lost", None, False)  # restarts the wait, as Toxiproxy's loop does
    clock.advance(0.06)
    assert sink.data == b"" and link.closed == 0
    clock.advance(0.05)
    assert link.closed == 1


def test_timeout_zero_holds_until_removed_then_closes() -> None:
    stage, sink, clock, link = _stage("timeout", timeout=0)
    stage.feed(b"lost", None, False)
    clock.advance(3600)
    assert link.closed == 0 and sink.data == b""
    assert stage.drain() == []
    clock.advance(0)
    assert link.closed == 1


def test_timeout_eof_closes() -> None:
    stage, _, _, link = _stage("timeout", timeout=0)
    stage.eof()
    assert link.closed == 1


def test_reset_peer_resets_after_the_first_data_and_drops_it() -> None:
    stage, sink, clock, link = _stage("reset_peer", timeout=200)
    clock.advance(10)
    assert link.resets == 0  # nothing happens on an idle connection
    stage.feed(b"GET / HTTP/1.1\r\n\r\n", None, True)
    clock.advance(0.199)
    assert link.resets == 0
    clock.advance(0.002)
    assert link.resets == 1 and sink.data == b""


def test_reset_peer_zero_is_immediate() -> None:
    stage, _, clock, link = _stage("reset_peer", timeout=0)
    stage.feed(b"x", None, False)
    clock.advance(0)
    assert link.resets == 1


def test_slicer_cuts_and_spaces_pieces() -> None:
    stage, sink, clock, _ = _stage("slicer", average_size=10, size_variation=0, delay=1000)  # 1 ms apart
    stage.feed(bytes(range(80)), None, False)
    clock.advance(0)
    assert len(sink.chunks) == 1
    clock.advance(0.0075)
    assert sink.data == bytes(range(80)) and len(sink.chunks) == 8


@pytest.mark.parametrize("size", [1, 7, 100, 1000, 65536])
def test_slicer_pieces_cover_the_chunk_in_order(size: int) -> None:
    toxic = SlicerToxic(average_size=16, size_variation=5)
    cuts = toxic.cuts(size, random.Random(size))
    assert cuts[0] == 0 and cuts[-1] == size
    assert all(b > a for a, b in itertools.pairwise(cuts))
    assert all(b - a <= 16 + 5 for a, b in itertools.pairwise(cuts))


def test_slicer_without_average_passes_whole() -> None:
    assert SlicerToxic().cuts(500, random.Random(1)) == [0, 500]


def test_limit_data_passes_the_limit_then_closes() -> None:
    stage, sink, clock, link = _stage("limit_data", bytes=10)
    stage.feed(b"123456", None, False)
    assert link.closed == 0
    stage.feed(b"7890abc", None, False)
    stage.feed(b"more", None, False)
    clock.advance(0)
    assert sink.data == b"1234567890" and link.closed == 1


def test_limit_data_count_survives_an_update() -> None:
    stage, sink, clock, link = _stage("limit_data", bytes=10)
    stage.feed(b"12345678", None, False)
    stage.update(create_toxic("limit_data", {"bytes": 12}))
    stage.feed(b"abcdef", None, False)
    clock.advance(0)
    assert sink.data == b"12345678abcd" and link.closed == 1


@pytest.mark.parametrize(
    ("type_name", "attributes"),
    [
        ("bandwidth", {"rate": -1}),
        ("slow_close", {"delay": "soon"}),
        ("timeout", {"timeout": -5}),
        ("reset_peer", {"timeout": -1}),
        ("slicer", {"average_size": -1}),
        ("limit_data", {"bytes": -1}),
        ("limit_data", {"bites": 1}),
    ],
)
def test_bad_attributes_are_rejected(type_name: str, attributes: dict[str, Any]) -> None:
    with pytest.raises(InvalidAttributes):
        create_toxic(type_name, attributes)
