"""The timeline's client for the embedded target's chaos API (harness/target/chaosapi.py): it sends the
request a target fault module described, straight to the target (never through the fault proxy, whose
own faults may be on). Built from the environment `harness run` gives Locust; None elsewhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

URL_ENV = "HARNESS_TARGET_CHAOS_URL"  # the target's own address (bypassing the proxy)
TOKEN_ENV = "HARNESS_TARGET_ADMIN_TOKEN"  # same name as harness.target.chaosapi.ADMIN_TOKEN_ENV
TIMEOUT_S = 10.0


class TargetChaos:
    def __init__(self, url: str, token: str, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.session = session or requests.Session()
        self.session.trust_env = False  # loopback only: no proxy from the environment

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TargetChaos | None:
        url, token = environ.get(URL_ENV), environ.get(TOKEN_ENV)
        return cls(url, token) if url and token else None

    def send(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One change: {"method", "path" (under /chaos), "body" (JSON or None)}."""
        response = self.session.request(
            request["method"], f"{self.url}{request['path']}", json=request.get("body"), headers=self._headers,
            timeout=TIMEOUT_S,
        )
        if response.status_code != 200:
            raise RuntimeError(f"target chaos API {request['method']} {request['path']}: {response.status_code} "
                               f"{response.text[:200]}")
        payload: dict[str, Any] = response.json()
        return payload

    def reset(self) -> dict[str, Any]:
        return self.send({"method": "POST", "path": "/chaos/reset", "body": None})
