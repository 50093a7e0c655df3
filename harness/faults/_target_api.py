"""The timeline's client for the embedded target's chaos API (harness/idp/chaosapi.py): it sends the
request a target fault module described, straight to the target (never through the fault proxy, whose
own faults may be on). Built from the environment `harness run` gives Locust; None elsewhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

from harness.faults._bearer import BearerJsonClient

URL_ENV = "HARNESS_TARGET_CHAOS_URL"  # the target's own address (bypassing the proxy)
TOKEN_ENV = "HARNESS_TARGET_ADMIN_TOKEN"  # same name as harness.idp.chaosapi.ADMIN_TOKEN_ENV
TIMEOUT_S = 10.0


class TargetChaos(BearerJsonClient):
    def __init__(self, url: str, token: str, session: requests.Session | None = None):
        super().__init__(url, token, TIMEOUT_S, "target chaos API", session)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TargetChaos | None:
        url, token = environ.get(URL_ENV), environ.get(TOKEN_ENV)
        return cls(url, token) if url and token else None

    def send(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One change: {"method", "path" (under /chaos), "body" (JSON or None)}."""
        return self.call(request["method"], request["path"], request.get("body"))

    def reset(self) -> dict[str, Any]:
        return self.send({"method": "POST", "path": "/chaos/reset", "body": None})
