import random

from harness.proxy.registry import create_toxic
from harness.proxy.toxics.latency import LatencyToxic

from .fakes import ManualClock, Sink, context


def _stage(latency: int, jitter: int = 0, clock: ManualClock | None = None):
    clock = clock or ManualClock()
    toxic = create_toxic("latency", {"latency": latency, "jitter": jitter})
    assert isinstance(toxic, LatencyToxic)
    stage = toxic.stage(context(clock))
    sink = Sink()
    stage.next = lambda data, req, end: sink.write(data)
    stage.next_eof = sink.write_eof
    return stage, sink, clock


def test_delay_without_jitter_is_exact() -> None:
    toxic = LatencyToxic(latency=250)
    assert toxic.delay_s(random.Random(1)) == 0.25


def test_jitter_stays_within_bounds_and_is_reproducible() -> None:
    toxic = LatencyToxic(latency=100, jitter=40)
    first = [toxic.delay_s(random.Random(42)) for _ in range(3)]
    rng = random.Random(42)
    delays = [toxic.delay_s(rng) for _ in range(2000)]
    assert all(0.060 <= d <= 0.140 for d in delays)
    assert min(delays) < 0.065 and max(delays) > 0.135  # uniform over the whole range
    assert abs(sum(delays) / len(delays) - 0.100) < 0.003
    assert first == [first[0]] * 3  # same seed, same first draw


def test_jitter_larger_than_latency_clips_at_zero() -> None:
    rng = random.Random(3)
    assert min(LatencyToxic(latency=10, jitter=50).delay_s(rng) for _ in range(500)) == 0.0


def test_chunks_wait_for_the_latency() -> None:
    stage, sink, clock = _stage(100)
    stage.feed(b"a", None, False)
    clock.advance(0.099)
    assert sink.data == b""
    clock.advance(0.002)
    assert sink.data == b"a"


def test_delay_counts_from_arrival_and_order_is_kept() -> None:
    stage, sink, clock = _stage(100, jitter=90)
    for i in range(50):
        stage.feed(bytes([65 + i % 26]), None, False)
        clock.advance(0.003)
    clock.advance(1.0)
    assert sink.data == bytes(65 + i % 26 for i in range(50))


def test_end_of_stream_follows_the_delayed_data() -> None:
    stage, sink, clock = _stage(100)
    stage.feed(b"last", None, False)
    stage.eof()
    assert not sink.eof
    clock.advance(0.2)
    assert sink.data == b"last" and sink.eof


def test_drain_returns_what_is_held_in_order() -> None:
    stage, sink, clock = _stage(100)
    stage.feed(b"1", None, False)
    stage.feed(b"2", None, False)
    held = stage.drain()
    assert [h[1] for h in held] == [b"1", b"2"]
    clock.advance(1.0)
    assert sink.data == b""  # its timer was cancelled
