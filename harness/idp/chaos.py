"""Target-side faults a proxy cannot make, switched by the chaos control API (chaosapi.py) and shared by
every worker through the store's control row.

`ChaosState` is what one process currently applies; `ChaosMiddleware` applies the per-endpoint forced
errors and the store slowness before a request reaches its handler. With nothing switched on, a request
pays one attribute check.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from harness.contract import Forgery
from harness.endpoints import CHAOS_API_PATH, EMBEDDED_PATHS
from harness.idp.forgery import ForgeryRule

# Endpoints that never touch the store: store slowness does not delay them.
STORELESS = frozenset({"discovery", "jwks", "health"})
ENDPOINT_BY_PATH = {path: name for name, path in EMBEDDED_PATHS.items()}


@dataclass(frozen=True)
class ErrorRule:
    status: int
    probability: float
    retry_after_s: int | None = None
    aws_error_type: str | None = None  # e.g. SlowDownException: sent as x-amzn-ErrorType


@dataclass
class ChaosState:
    clock_skew_s: int = 0
    store_latency_ms: float = 0.0
    errors: dict[str, ErrorRule] = field(default_factory=dict)
    device_interval_s: int | None = None
    device_expires_s: int | None = None
    forgeries: dict[Forgery, ForgeryRule] = field(default_factory=dict)  # harness/idp/forgery.py
    rogue_pem: str | None = None  # the forgeries' attacker key (private: never in `public()`)

    @property
    def active(self) -> bool:
        return bool(self.errors) or self.store_latency_ms > 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    def public(self) -> dict[str, Any]:
        """The state as the chaos API shows it: everything but the rogue key."""
        data = asdict(self)
        del data["rogue_pem"]
        return data

    @classmethod
    def from_json(cls, raw: str) -> ChaosState:
        data: dict[str, Any] = json.loads(raw or "{}")
        errors = {k: ErrorRule(**v) for k, v in data.pop("errors", {}).items()}
        forgeries = {k: ForgeryRule(v["probability"], tuple(v["tokens"])) for k, v in data.pop("forgeries", {}).items()}
        return cls(errors=errors, forgeries=forgeries, **data)

    def replace_with(self, other: ChaosState) -> None:
        """Take over another state's values in place (the middleware holds a reference to this one)."""
        self.__dict__.update(other.__dict__)


class ChaosMiddleware:
    def __init__(self, app: ASGIApp, state: ChaosState, rng: random.Random | None = None):
        self.app = app
        self.state = state
        self.rng = rng or random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        if scope["type"] != "http" or not state.active:
            await self.app(scope, receive, send)
            return
        endpoint = ENDPOINT_BY_PATH.get(scope["path"])
        if endpoint == "health" or scope["path"].startswith(CHAOS_API_PATH):
            await self.app(scope, receive, send)
            return
        rule = state.errors.get(endpoint or "") or state.errors.get("*")
        if rule is not None and self.rng.random() < rule.probability:
            await _send_error(send, rule)
            return
        if state.store_latency_ms > 0 and endpoint not in STORELESS:
            await asyncio.sleep(state.store_latency_ms / 1000)
        await self.app(scope, receive, send)


async def _send_error(send: Send, rule: ErrorRule) -> None:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    if rule.retry_after_s is not None:
        headers.append((b"retry-after", str(rule.retry_after_s).encode("ascii")))
    if rule.aws_error_type:
        headers.append((b"x-amzn-errortype", rule.aws_error_type.encode("ascii")))
        error = "slow_down" if rule.aws_error_type == "SlowDownException" else "server_error"
        body = json.dumps({"error": error, "error_description": "injected fault", "message": "injected fault"})
    elif rule.status >= 500 and rule.status != 503:
        body = json.dumps({"error": "server_error", "error_description": "injected fault"})
    else:
        body = json.dumps({"error": "temporarily_unavailable", "error_description": "injected fault"})
    raw = body.encode("utf-8")
    headers.append((b"content-length", str(len(raw)).encode("ascii")))
    await send({"type": "http.response.start", "status": rule.status, "headers": headers})
    await send({"type": "http.response.body", "body": raw, "more_body": False})


def parse_rule(data: Mapping[str, Any]) -> tuple[str, ErrorRule]:
    """Validate one forced-error rule from the chaos API; ValueError says what is wrong."""
    endpoint = data.get("endpoint")
    if endpoint != "*" and endpoint not in EMBEDDED_PATHS:
        raise ValueError(f"endpoint must be '*' or one of {', '.join(EMBEDDED_PATHS)}")
    status = data.get("status", 503)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an integer 400..599")
    probability = data.get("probability", 1.0)
    if not isinstance(probability, int | float) or not 0 <= probability <= 1:
        raise ValueError("probability must be a number 0..1")
    retry_after = data.get("retry_after_s")
    if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
        raise ValueError("retry_after_s must be a non-negative integer")
    aws = data.get("aws_error_type")
    if aws is not None and (not isinstance(aws, str) or not aws.isalnum() or len(aws) > 64):
        raise ValueError("aws_error_type must be an exception name such as SlowDownException")
    return str(endpoint), ErrorRule(status, float(probability), retry_after, aws)
