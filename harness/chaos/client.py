"""The timeline's side of the control channel (control.py): asks the orchestrator to apply and remove
process and network faults. Built from the environment `harness run` gives Locust; None elsewhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

from harness.faults._bearer import BearerJsonClient

API_ENV = "HARNESS_CHAOS_API"  # same names as harness.chaos.control (kept import-light for Locust)
TOKEN_ENV = "HARNESS_CHAOS_TOKEN"
TIMEOUT_S = 30.0


class ChaosChannel(BearerJsonClient):
    def __init__(self, url: str, token: str, session: requests.Session | None = None):
        super().__init__(url, token, TIMEOUT_S, "chaos control", session)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ChaosChannel | None:
        url, token = environ.get(API_ENV), environ.get(TOKEN_ENV)
        return cls(url, token) if url and token else None

    def apply(self, fault: Any, name: str) -> dict[str, Any]:
        return self.call("POST", f"/faults/{name}", fault.model_dump(mode="json", exclude_none=True))

    def remove(self, name: str) -> dict[str, Any]:
        return self.call("DELETE", f"/faults/{name}", None)
