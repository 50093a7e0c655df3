from __future__ import annotations

import pytest

from harness.idp.redirects import redirect_allowed, valid_redirect_uri

REGISTERED = ("http://127.0.0.1/oauth/callback", "https://app.example/cb")


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("http://127.0.0.1/oauth/callback", True),
        ("http://127.0.0.1:49152/oauth/callback", True),  # RFC 8252 7.3: any port on loopback
        ("https://app.example/cb", True),
        ("https://app.example:8443/cb", False),  # only loopback is port-agnostic
        ("http://127.0.0.1:49152/oauth/callback/x", False),
        ("http://127.0.0.1:49152/oauth/callback?x=1", False),
        ("http://localhost:49152/oauth/callback", False),  # another host
        ("http://evil@127.0.0.1:1/oauth/callback", False),
        ("http://127.0.0.1:99999/oauth/callback", False),  # malformed port
        ("https://app.example/cb#frag", False),
        ("", False),
    ],
)
def test_redirect_matching(uri: str, allowed: bool) -> None:
    assert redirect_allowed(uri, REGISTERED) is allowed


@pytest.mark.parametrize(
    ("uri", "ok"),
    [("http://127.0.0.1/cb", True), ("https://x.example/cb", True), ("http://x.example/cb", False),
     ("ftp://x/cb", False), ("https://x.example/cb#f", False), ("not a uri", False)],
)
def test_what_may_be_registered(uri: str, ok: bool) -> None:
    assert valid_redirect_uri(uri) is ok
