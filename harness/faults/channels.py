"""The timeline's clients for the two fault channels that are not the proxy, each built from the
environment `harness run` gives Locust (None elsewhere):

- `TargetChaos`: the embedded target's chaos API (harness/idp/chaosapi.py), reached at the target's own
  address, never through the fault proxy, whose own faults may be on;
- `ChaosChannel`: the orchestrator's control channel (harness/chaos/control.py), which applies process
  and network faults for the timeline, since the orchestrator owns the target and the namespace.

Both are JSON to a loopback service with a bearer token, no proxy from the environment, a bounded timeout,
and the service's own words on an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, Self

import requests

from harness.contract import ChaosRequest, Env
from harness.faults.base import FaultModel


class BearerJsonClient:
    """JSON over HTTP to one loopback service with a bearer token; subclasses say which service."""

    url_env: ClassVar[str]
    token_env: ClassVar[str]
    timeout_s: ClassVar[float]
    what: ClassVar[str]

    def __init__(self, url: str, token: str, session: requests.Session | None = None, ca_file: str | None = None):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self.session = session or requests.Session()
        self.session.trust_env = False  # loopback only: no proxy from the environment
        if ca_file is not None:  # a target over TLS: its certificate is from the run's CA
            self.session.verify = ca_file

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, ca_file: str | None = None) -> Self | None:
        url, token = environ.get(cls.url_env), environ.get(cls.token_env)
        return cls(url, token, ca_file=ca_file) if url and token else None

    def call(self, method: str, path: str, body: Any) -> dict[str, Any]:
        response = self.session.request(method, f"{self.url}{path}", json=body, headers=self._headers,
                                        timeout=self.timeout_s)  # fmt: skip
        if response.status_code != 200:
            raise RuntimeError(f"{self.what} {method} {path}: {response.status_code} {response.text[:200]}")
        payload: dict[str, Any] = response.json()
        return payload


class TargetChaos(BearerJsonClient):
    url_env, token_env = Env.TARGET_CHAOS_URL, Env.TARGET_ADMIN_TOKEN
    timeout_s, what = 10.0, "target chaos API"

    def send(self, request: ChaosRequest) -> dict[str, Any]:
        return self.call(request["method"], request["path"], request["body"])

    def reset(self) -> dict[str, Any]:
        return self.send({"method": "POST", "path": "/chaos/reset", "body": None})


class ChaosChannel(BearerJsonClient):
    url_env, token_env = Env.CHAOS_API, Env.CHAOS_TOKEN
    timeout_s, what = 30.0, "chaos control"  # a restart fault waits for the target to stop

    def apply(self, fault: FaultModel, name: str) -> dict[str, Any]:
        return self.call("POST", f"/faults/{name}", fault.model_dump(mode="json", exclude_none=True))

    def remove(self, name: str) -> dict[str, Any]:
        return self.call("DELETE", f"/faults/{name}", None)
