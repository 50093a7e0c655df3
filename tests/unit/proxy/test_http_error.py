import json

import pytest

from harness.proxy.registry import InvalidAttributes, create_toxic
from harness.proxy.toxics.http_error import HttpErrorToxic

from .fakes import FakeLink, Sink, context, request, upstream_pipe

POST = b"POST /token HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
GET_OTHER = b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n"
CHUNKED_TOKEN = b"POST /token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"


def _toxic(**attributes) -> HttpErrorToxic:
    toxic = create_toxic("http_error", attributes)
    assert isinstance(toxic, HttpErrorToxic)
    return toxic


@pytest.mark.parametrize(
    ("attributes", "method", "path", "expected"),
    [
        ({"path": "/token"}, "POST", "/token", True),
        ({"path": "/token"}, "POST", "/token/x", False),
        ({"path": "/token", "method": "get"}, "POST", "/token", False),
        ({"path": "/token", "method": "post"}, "POST", "/token", True),
        ({"path": "/oauth2/", "match": "prefix"}, "GET", "/oauth2/authorize", True),
        ({"path": "/oauth2/", "match": "prefix"}, "GET", "/oidc/authorize", False),
        ({"path": r"^/accounts/\d+/roles$", "match": "regex"}, "GET", "/accounts/12/roles", True),
        ({"path": r"^/accounts/\d+/roles$", "match": "regex"}, "GET", "/accounts/x/roles", False),
        ({}, "DELETE", "/anything", True),
    ],
)
def test_matching(attributes, method, path, expected) -> None:
    assert _toxic(**attributes).matches(request(method, path)) is expected


def test_bad_regex_is_an_attribute_error() -> None:
    with pytest.raises(InvalidAttributes, match="regular expression"):
        _toxic(path="(", match="regex")


def test_status_must_be_an_error() -> None:
    with pytest.raises(InvalidAttributes, match="status"):
        _toxic(status=200)


def test_synthetic_response_bytes() -> None:
    raw = _toxic(status=503, retry_after=2).response()
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Length"] == str(len(body))
    assert headers["Retry-After"] == "2"
    assert headers["X-Harness-Fault"] == "http_error"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"error": "temporarily_unavailable", "error_description": "injected by harness proxy"}


def test_no_retry_after_when_zero_and_close_when_asked() -> None:
    raw = _toxic(status=429, retry_after=0).response(keep_alive=False)
    assert b"Retry-After" not in raw and b"Connection: close\r\n" in raw
    assert raw.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")


def _wired(toxic: HttpErrorToxic, seed: int = 7):
    sink, link = Sink(), FakeLink()
    pipe = upstream_pipe(sink, link)
    stage = toxic.stage(context(seed=seed, link=link))
    pipe.set_stages([stage], hold=True)
    return pipe, sink, link, stage


def test_matching_request_is_swallowed_whole_and_answered() -> None:
    pipe, sink, link, stage = _wired(_toxic(path="/token", status=503, retry_after=1))
    pipe.feed(POST[:20])
    pipe.feed(POST[20:] + GET_OTHER)
    assert sink.data == GET_OTHER  # the next request still goes through
    assert link.responses == [_toxic(path="/token", status=503, retry_after=1).response()]
    assert stage.ctx.counters.faults_injected == 1


def test_chunked_request_is_swallowed_whole() -> None:
    pipe, sink, link, _ = _wired(_toxic(path="/token"))
    for i in range(len(CHUNKED_TOKEN)):
        pipe.feed(CHUNKED_TOKEN[i : i + 1])
    pipe.feed(GET_OTHER)
    assert sink.data == GET_OTHER and len(link.responses) == 1


def test_removing_the_toxic_mid_request_still_swallows_its_rest() -> None:
    pipe, sink, link, _ = _wired(_toxic(path="/token"))
    pipe.feed(POST[:-2])
    pipe.set_stages([], hold=False)
    pipe.feed(POST[-2:] + GET_OTHER)
    assert sink.data == GET_OTHER and len(link.responses) == 1


def test_probability_over_many_requests_is_reproducible() -> None:
    def run(seed: int) -> tuple[int, int]:
        pipe, _sink, link, stage = _wired(_toxic(path="/token", probability=0.3), seed=seed)
        for _ in range(2000):
            link.awaiting = False  # each response came back before the next request
            pipe.feed(POST)
        return len(link.responses), stage.ctx.counters.requests_matched

    faults, matched = run(11)
    assert matched == 2000
    assert 0.27 < faults / 2000 < 0.33
    assert run(11)[0] == faults  # same seed, same faults
    assert run(12)[0] != faults or run(13)[0] != faults


def test_a_pipelining_client_is_forwarded_not_answered_out_of_order() -> None:
    pipe, sink, link, stage = _wired(_toxic(path="/token"))
    link.awaiting = True  # a forwarded request has had no response yet
    pipe.feed(POST)
    assert sink.data == POST and link.responses == []
    assert stage.ctx.counters.faults_skipped == 1
