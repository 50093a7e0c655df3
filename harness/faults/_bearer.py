"""The one HTTP client shape both non-proxy fault channels need: JSON to a loopback service with a bearer
token, no proxy from the environment, a bounded timeout, and the service's own words on an error."""

from __future__ import annotations

from typing import Any

import requests


class BearerJsonClient:
    def __init__(self, url: str, token: str, timeout_s: float, what: str, session: requests.Session | None = None):
        self.url, self.timeout_s, self.what = url.rstrip("/"), timeout_s, what
        self._headers = {"Authorization": f"Bearer {token}"}
        self.session = session or requests.Session()
        self.session.trust_env = False  # loopback only: no proxy from the environment

    def call(self, method: str, path: str, body: Any) -> dict[str, Any]:
        response = self.session.request(method, f"{self.url}{path}", json=body, headers=self._headers,
                                        timeout=self.timeout_s)  # fmt: skip
        if response.status_code != 200:
            raise RuntimeError(f"{self.what} {method} {path}: {response.status_code} {response.text[:200]}")
        payload: dict[str, Any] = response.json()
        return payload
