"""http_answer: a matching request is answered by the proxy with the given status and body (200 too),
the rest forwarded: the stale cache of the revoked-token negative control."""

import json

import pytest

from harness.faults import FAULT_ADAPTER, toxic_spec
from harness.faults.base import ProxyFault
from harness.proxy.registry import InvalidAttributes, create_toxic
from harness.proxy.toxics.http_answer import HttpAnswerToxic

from .fakes import FakeLink, Sink, context, upstream_pipe

INTROSPECT = b"POST /introspect HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\ntoken=abc"
GET_OTHER = b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n"


def _toxic(**attributes) -> HttpAnswerToxic:
    toxic = create_toxic("http_answer", attributes)
    assert isinstance(toxic, HttpAnswerToxic)
    return toxic


def test_a_matching_request_gets_the_fixed_answer_and_the_next_one_goes_through() -> None:
    toxic = _toxic(path="/introspect", status=200, body='{"active": true}')
    sink, link = Sink(), FakeLink()
    pipe = upstream_pipe(sink, link)
    stage = toxic.stage(context(seed=1, link=link))
    pipe.set_stages([stage], hold=True)
    pipe.feed(INTROSPECT + GET_OTHER)
    assert sink.data == GET_OTHER
    (raw,) = link.responses
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"Content-Type: application/json" in head
    assert b"X-Harness-Fault: http_answer" in head and json.loads(body) == {"active": True}
    assert stage.ctx.counters.faults_injected == 1


@pytest.mark.parametrize("attributes", [{"status": 199}, {"status": 600}, {"content_type": "x\r\ny: z"}])
def test_bad_attributes_are_refused(attributes) -> None:
    with pytest.raises(InvalidAttributes):
        _toxic(**attributes)


def test_the_scenario_fault_sends_a_mapping_as_json() -> None:
    fault = FAULT_ADAPTER.validate_python({"type": "http_answer", "endpoint": "introspection",
                                           "body": {"active": True}})
    assert isinstance(fault, ProxyFault)
    spec = toxic_spec(fault, "stale")
    assert spec["type"] == "http_answer" and spec["stream"] == "upstream"
    assert spec["attributes"] == {"method": "", "path": "/introspect", "match": "exact", "status": 200,
                                  "body": '{"active": true}', "content_type": "application/json", "probability": 1.0}
    toxic = create_toxic("http_answer", spec["attributes"])
    assert isinstance(toxic, HttpAnswerToxic) and toxic.response().endswith(b'{"active": true}')


def test_the_scenario_fault_needs_something_to_match() -> None:
    with pytest.raises(ValueError, match="needs an endpoint or a path"):
        FAULT_ADAPTER.validate_python({"type": "http_answer", "body": "x"})
