from harness.proxy.registry import create_toxic

from .fakes import FakeLink, ManualClock, Sink, context, upstream_pipe

TOKEN = b"POST /token HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"
OTHER = b"GET /other HTTP/1.1\r\n\r\n"


def test_matching_request_waits_and_later_bytes_queue_behind_it() -> None:
    clock, sink, link = ManualClock(), Sink(), FakeLink()
    pipe = upstream_pipe(sink, link)
    toxic = create_toxic("http_latency", {"path": "/token", "latency": 200})
    pipe.set_stages([toxic.stage(context(clock, link=link))], hold=True)
    pipe.feed(OTHER)
    assert sink.data == OTHER  # not matching: at once
    pipe.feed(TOKEN + OTHER)
    clock.advance(0.199)
    assert sink.data == OTHER
    clock.advance(0.002)
    assert sink.data == OTHER + TOKEN + OTHER
