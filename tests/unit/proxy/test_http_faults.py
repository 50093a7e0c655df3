"""HTTP-aware toxics on in-memory streams: drop, throttle, corrupt, response latency, AWS preset, and
the fault rate over 10,000 keep-alive requests."""

from __future__ import annotations

import json

import pytest

from harness.proxy.registry import create_toxic

from .fakes import FakeLink, ManualClock, Sink, context, upstream_pipe

POST = b"POST /token HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
GET_OTHER = b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n"
RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"a": "bcde"}'


def _wired(type_name: str, seed: int = 7, clock: ManualClock | None = None, **attributes):
    sink, link = Sink(), FakeLink()
    clock = clock or ManualClock()
    pipe = upstream_pipe(sink, link)
    stage = create_toxic(type_name, attributes).stage(context(clock, seed=seed, link=link))
    pipe.set_stages([stage], hold=True)
    return pipe, sink, link, stage, clock


@pytest.mark.parametrize("mode", ["close", "reset"])
def test_http_drop_reads_the_request_then_ends_the_connection(mode: str) -> None:
    pipe, sink, link, stage, _ = _wired("http_drop", path="/token", mode=mode)
    pipe.feed(POST[:30])
    assert link.closed == link.resets == 0  # not before the whole request is read
    pipe.feed(POST[30:])
    assert sink.data == b"" and link.responses == []
    assert (link.closed, link.resets) == ((1, 0) if mode == "close" else (0, 1))
    assert stage.ctx.counters.faults_injected == 1


def test_http_drop_leaves_other_paths_alone() -> None:
    pipe, sink, link, _, _ = _wired("http_drop", path="/token")
    pipe.feed(GET_OTHER)
    assert sink.data == GET_OTHER and link.closed == 0


def test_http_throttle_lets_rate_and_burst_through() -> None:
    pipe, sink, link, stage, clock = _wired("http_throttle", path="/token", rate=10, burst=3)
    for _ in range(5):
        link.awaiting = False
        pipe.feed(POST)
    assert sink.data == POST * 3 and len(link.responses) == 2
    assert link.responses[0].startswith(b"HTTP/1.1 429 ") and b"Retry-After: 1\r\n" in link.responses[0]
    clock.advance(0.1)  # one token back
    for _ in range(2):
        link.awaiting = False
        pipe.feed(POST)
    assert sink.data == POST * 4 and len(link.responses) == 3
    assert stage.ctx.counters.requests_matched == 7 and stage.ctx.counters.faults_injected == 3


def test_http_throttle_aws_slow_down() -> None:
    toxic = create_toxic("http_throttle", {"status": 400, "preset": "aws", "rate": 1})
    head, body = toxic.response().split(b"\r\n\r\n", 1)  # type: ignore[attr-defined]
    assert head.startswith(b"HTTP/1.1 400 ") and b"\r\nx-amzn-ErrorType: SlowDownException" in head
    assert json.loads(body)["__type"].endswith("#SlowDownException") and json.loads(body)["error"] == "slow_down"


@pytest.mark.parametrize(
    ("status", "code", "oauth"),
    [(429, "TooManyRequestsException", "too_many_requests"), (500, "InternalServerException", "server_error")],
)
def test_http_error_aws_preset(status: int, code: str, oauth: str) -> None:
    raw = create_toxic("http_error", {"status": status, "preset": "aws"}).response()  # type: ignore[attr-defined]
    head, body = raw.split(b"\r\n\r\n", 1)
    assert f"\r\nx-amzn-ErrorType: {code}\r\n".encode() in head
    data = json.loads(body)
    assert data["error"] == oauth and data["message"] and data["error_description"]


def test_http_error_custom_body_and_headers() -> None:
    toxic = create_toxic("http_error", {"status": 502, "body": '{"x": 1}', "headers": {"X-Extra": "yes"}})
    raw = toxic.response()  # type: ignore[attr-defined]
    assert raw.endswith(b'{"x": 1}') and b"\r\nX-Extra: yes\r\n" in raw and b"Content-Length: 8\r\n" in raw


def test_http_error_header_injection_is_refused() -> None:
    from harness.proxy.registry import InvalidAttributes

    with pytest.raises(InvalidAttributes):
        create_toxic("http_error", {"headers": {"X": "a\r\nSet-Cookie: b"}})


def test_http_latency_on_the_response_holds_it() -> None:
    pipe, sink, link, _stage, clock = _wired("http_latency", path="/token", latency=200, where="response")
    pipe.feed(POST)
    clock.advance(0)
    assert sink.data == POST  # the request goes at once
    link.server_sends(RESPONSE)
    assert link.to_client == [] and link.server_paused
    clock.advance(0.199)
    assert link.to_client == []
    clock.advance(0.002)
    assert link.to_client == [RESPONSE] and not link.server_paused and link.handler is None


@pytest.mark.parametrize("mode", ["truncate", "garble"])
def test_http_corrupt_breaks_the_response(mode: str) -> None:
    pipe, _sink, link, _, _ = _wired("http_corrupt", path="/token", mode=mode)
    pipe.feed(POST)
    link.server_sends(RESPONSE)
    out = b"".join(link.to_client)
    head = RESPONSE.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert out.startswith(head)
    if mode == "truncate":
        assert len(out) == len(head) + 6 and link.closed == 1
    else:
        assert out == head + b"\xff" * 13 and link.closed == 0
    link.server_sends(RESPONSE)  # the next response passes untouched
    assert link.to_client[-1] == RESPONSE


@pytest.mark.parametrize("probability", [0.05, 0.3, 0.5, 0.9])
def test_observed_fault_rate_over_10000_keep_alive_requests(probability: float) -> None:
    pipe, sink, link, stage, _ = _wired(
        "http_error", seed=int(probability * 100), path="/token", probability=probability
    )
    for _ in range(10_000):
        link.awaiting = False  # each response came back before the next request
        pipe.feed(POST)
    rate = len(link.responses) / 10_000
    assert abs(rate - probability) <= 0.02
    assert stage.ctx.counters.faults_injected == len(link.responses)
    assert len(sink.data) == len(POST) * (10_000 - len(link.responses))


def test_pipelined_requests_are_answered_in_order() -> None:
    # Three requests in one segment: an answer to the second would overtake the first's response,
    # which has not come yet, so matching requests are forwarded and counted as skipped.
    pipe, sink, link, stage, _ = _wired("http_error", path="/token")
    pipe.feed(GET_OTHER + POST + POST)
    assert sink.data == GET_OTHER + POST + POST and link.responses == []
    assert stage.ctx.counters.faults_skipped == 2
