"""Fixtures of the proxy's socket tests: a keep-alive HTTP upstream, and a proxy in process in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.proxy.client import ToxiproxyClient
from harness.proxy.server import ProxyServerThread

from .test_proxy_process import upstream  # noqa: F401 - the keep-alive HTTP server fixture


@pytest.fixture
def proxied(upstream: str) -> Iterator[tuple[ToxiproxyClient, int]]:  # noqa: F811
    """A proxy "sso" on its own loop in this process, in front of `upstream`: its client and listen port."""
    with ProxyServerThread(seed=3) as server:
        client = ToxiproxyClient(server.api_url)
        proxy = client.create_proxy("sso", upstream=upstream)
        yield client, int(proxy["listen"].rsplit(":", 1)[1])
        client.close()
