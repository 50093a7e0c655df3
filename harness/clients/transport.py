"""HTTP transport for the clients: requests with every hidden retry switched off."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


def make_session(pool_maxsize: int = 10) -> requests.Session:
    """A session whose only retries are the ones the scenario asks for (urllib3's are off), and which
    ignores proxy environment variables so load never leaves loopback by accident."""
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
