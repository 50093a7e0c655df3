"""The timeline's side of the control channel (control.py): asks the orchestrator to apply and remove
process and network faults. Built from the environment `harness run` gives Locust; None elsewhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

API_ENV = "HARNESS_CHAOS_API"  # same names as harness.chaos.control (kept import-light for Locust)
TOKEN_ENV = "HARNESS_CHAOS_TOKEN"
TIMEOUT_S = 30.0


class ChaosChannel:
    def __init__(self, url: str, token: str, session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.session = session or requests.Session()
        self.session.trust_env = False  # loopback only: no proxy from the environment

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ChaosChannel | None:
        url, token = environ.get(API_ENV), environ.get(TOKEN_ENV)
        return cls(url, token) if url and token else None

    def apply(self, fault: Any, name: str) -> dict[str, Any]:
        body = fault.model_dump(mode="json", exclude_none=True)
        return self._call("POST", name, body)

    def remove(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", name, None)

    def _call(self, method: str, name: str, body: Any) -> dict[str, Any]:
        response = self.session.request(
            method, f"{self.url}/faults/{name}", json=body, headers=self._headers, timeout=TIMEOUT_S
        )
        payload: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"chaos control {method} {name}: {response.status_code} {payload.get('error')}")
        return payload
