"""RequestSieve (harness/proxy/sieve.py): from raw bytes, the same answer as the toxics' own matching."""

from __future__ import annotations

import pytest

from harness.proxy.http import HttpMatch
from harness.proxy.sieve import RequestSieve

from .fakes import request

REQUESTS = [
    ("GET", "/token"),
    ("POST", "/token"),
    ("POST", "/token/x"),
    ("GET", "/oauth2/authorize"),
    ("GET", "/oidc/authorize"),
    ("GET", "/accounts/12/roles"),
    ("DELETE", "/accounts/x/roles"),
    ("GET", "/caf\xe9"),
    ("PURGE", "/"),
]
TOXIC_SETS = [
    [HttpMatch(path="/never")],
    [HttpMatch(path="/token", method="post")],
    [HttpMatch(path="/oauth2/", match="prefix"), HttpMatch(path="/token", method="GET")],
    [HttpMatch(path=r"^/accounts/\d+/roles$", match="regex")],
    [HttpMatch(path="(?i)/TOKEN$", match="regex", method="POST"), HttpMatch(path="/oidc", match="prefix")],
    [HttpMatch(method="DELETE")],
    [HttpMatch(path="/caf\xe9"), HttpMatch(path="/\u2603", match="prefix"), HttpMatch(method="G\u00c9T")],
]


@pytest.mark.parametrize("toxics", TOXIC_SETS, ids=lambda toxics: " + ".join(map(repr, toxics)))
def test_the_sieve_answers_as_the_toxics_match(toxics: list[HttpMatch]) -> None:
    sieve = RequestSieve.of(toxics)
    assert sieve is not None
    for method, path in REQUESTS:
        expected = any(toxic.matches(request(method, path)) for toxic in toxics)
        assert sieve.may_match(method.encode(), path.encode("latin-1")) is expected, (method, path)


def test_a_toxic_matching_every_request_leaves_nothing_to_sift() -> None:
    assert RequestSieve.of([HttpMatch(path="/token"), HttpMatch()]) is None
