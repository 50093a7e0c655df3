"""The chaos control API: target-side faults a proxy cannot make. Off (404 on every route) unless the
target starts with HARNESS_TARGET_ADMIN_TOKEN set; every call then needs `Authorization: Bearer <token>`
(compared in constant time; 401 otherwise). Changes go to the shared store and every worker applies them
within `control_poll_interval_s` (0.2 s); the worker that answers applies them at once.

Routes (JSON in and out):
  GET    /chaos                      -> the current state (below)
  POST   /chaos/reset                -> everything off, device timing back to the options
  POST   /chaos/keys/rotate          {"publish_lead_s": 0, "alg": "RS256"}
         -> {"kid": new kid, "activates_at": epoch s}. The new key is published in the JWKS at once and
         signs from activates_at (0: at once, the abrupt rotation verifiers with a cached JWKS trip on);
         the old key stays published until every token it signed has expired.
  PUT    /chaos/clock_skew           {"skew_s": -300}        iat/exp of newly issued JWTs shifted by skew_s
  PUT    /chaos/errors               {"endpoint": "token", "status": 503, "probability": 0.3,
                                      "retry_after_s": 1, "aws_error_type": "SlowDownException"}
         endpoint is a name from harness/scenario/endpoints.py or "*"; status 400..599; the last two
         optional (aws_error_type sets x-amzn-ErrorType so boto3 raises that class)
  DELETE /chaos/errors[?endpoint=token]  one rule, or all
  PUT    /chaos/store_latency        {"latency_ms": 200}     every store-backed request waits this long
  PUT    /chaos/device               {"interval_s": 1, "expires_in_s": 5}   timing of new device codes
  PUT    /chaos/forgery              {"kind": "wrong_aud", "probability": 0.5, "tokens": ["access", "id"]}
         a share of newly issued tokens is forged (forgery.py: wrong_aud, wrong_iss, expired, unknown_key,
         alg_none, wrong_nonce, jwks_key_swap); `tokens` defaults to both ([id] for wrong_nonce)
  DELETE /chaos/forgery[?kind=wrong_aud]  one forgery, or all
State: {"clock_skew_s", "store_latency_ms", "errors": {endpoint: rule}, "device_interval_s",
        "device_expires_s", "forgeries": {kind: {"probability", "tokens"}}} (null device fields: the
command-line options apply; the forgeries' rogue key is never shown). Bad input: 400
{"error": "invalid_request", "error_description": ...}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.endpoints import CHAOS_API_PATH
from harness.idp import keys
from harness.idp.chaos import ChaosState, parse_rule
from harness.idp.forgery import ROGUE_KEY_FORGERIES, parse_forgery
from harness.idp.oauth import json_response
from harness.idp.services import Services

PREFIX = CHAOS_API_PATH
MAX_SKEW_S = 7 * 24 * 3600
Handler = Callable[[Request], Awaitable[Response]]


def admin_token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ChaosApi:
    def __init__(self, services: Callable[[], Services]):
        self._services = services

    def routes(self) -> list[Route]:
        return [
            Route(PREFIX, self._guard(self.show), methods=["GET"]),
            Route(f"{PREFIX}/reset", self._guard(self.reset), methods=["POST"]),
            Route(f"{PREFIX}/keys/rotate", self._guard(self.rotate), methods=["POST"]),
            Route(f"{PREFIX}/clock_skew", self._guard(self.clock_skew), methods=["PUT"]),
            Route(f"{PREFIX}/errors", self._guard(self.errors), methods=["PUT", "DELETE"]),
            Route(f"{PREFIX}/store_latency", self._guard(self.store_latency), methods=["PUT"]),
            Route(f"{PREFIX}/device", self._guard(self.device), methods=["PUT"]),
            Route(f"{PREFIX}/forgery", self._guard(self.forgery), methods=["PUT", "DELETE"]),
        ]

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            expected = self._services().config.admin_token_sha256
            if expected is None:
                return json_response({"error": "not_found"}, status=404)
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            presented = admin_token_sha256(token.strip()) if scheme.lower() == "bearer" else ""
            if not hmac.compare_digest(presented.encode("ascii"), expected.encode("ascii")):
                self._services().audit.emit("admin_auth_failed", endpoint=request.url.path)
                return json_response({"error": "unauthorized"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="harness-chaos"'})
            try:
                return await handler(request)
            except ValueError as exc:
                return json_response({"error": "invalid_request", "error_description": str(exc)[:300]}, status=400)

        return guarded

    async def show(self, request: Request) -> Response:
        return self._state_response()

    async def reset(self, request: Request) -> Response:
        return self._update(lambda state: state.replace_with(ChaosState()), "reset")

    async def rotate(self, request: Request) -> Response:
        body = await _body(request)
        services = self._services()
        lead = body.get("publish_lead_s", 0)
        alg = body.get("alg", services.config.signing_alg)
        if not isinstance(lead, int) or not 0 <= lead <= 86400:
            raise ValueError("publish_lead_s must be an integer 0..86400")
        if alg not in keys.SUPPORTED_ALGS:
            raise ValueError(f"alg must be one of {', '.join(keys.SUPPORTED_ALGS)}")
        kid = keys.rotate(services.store, alg, publish_lead_s=lead)
        services.refresh_control()
        services.audit.emit("chaos", action="rotate_keys", kid=kid, publish_lead_s=lead)
        return json_response({"kid": kid, "activates_at": int(time.time()) + lead})

    async def clock_skew(self, request: Request) -> Response:
        skew = (await _body(request)).get("skew_s")
        if not isinstance(skew, int) or abs(skew) > MAX_SKEW_S:
            raise ValueError(f"skew_s must be an integer within ±{MAX_SKEW_S}")
        return self._update(lambda state: setattr(state, "clock_skew_s", skew), "clock_skew")

    async def errors(self, request: Request) -> Response:
        if request.method == "DELETE":
            endpoint = request.query_params.get("endpoint")

            def remove(state: ChaosState) -> None:
                state.errors = {} if endpoint is None else {k: v for k, v in state.errors.items() if k != endpoint}

            return self._update(remove, "errors_removed")
        endpoint, rule = parse_rule(await _body(request))
        return self._update(lambda state: state.errors.__setitem__(endpoint, rule), "errors")

    async def store_latency(self, request: Request) -> Response:
        latency = (await _body(request)).get("latency_ms")
        if not isinstance(latency, int | float) or not 0 <= latency <= 60_000:
            raise ValueError("latency_ms must be a number 0..60000")
        return self._update(lambda state: setattr(state, "store_latency_ms", float(latency)), "store_latency")

    async def device(self, request: Request) -> Response:
        body = await _body(request)
        interval, expires = body.get("interval_s"), body.get("expires_in_s")
        for name, value in (("interval_s", interval), ("expires_in_s", expires)):
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 86400):
                raise ValueError(f"{name} must be an integer 0..86400 or null")

        def apply(state: ChaosState) -> None:
            state.device_interval_s, state.device_expires_s = interval, expires

        return self._update(apply, "device")

    async def forgery(self, request: Request) -> Response:
        if request.method == "DELETE":
            kind = request.query_params.get("kind")

            def remove(state: ChaosState) -> None:
                state.forgeries = {} if kind is None else {k: v for k, v in state.forgeries.items() if k != kind}

            return self._update(remove, "forgery_removed")
        kind, rule = parse_forgery(await _body(request))
        # an attacker's key of our own making, for the forgeries that sign with one: made once (RSA takes a
        # moment) in the worker that answers and shared through the store like the rest of the state
        services = self._services()
        rogue = None
        if kind in ROGUE_KEY_FORGERIES and ChaosState.from_json(services.store.control()[1]).rogue_pem is None:
            rogue = keys.private_key_to_pem(keys.generate_private_key(services.keys.signer.alg))

        def switch_on(state: ChaosState) -> None:
            state.forgeries[kind] = rule
            if rogue is not None and state.rogue_pem is None:
                state.rogue_pem = rogue.decode("ascii")

        return self._update(switch_on, f"forgery_{kind}")

    def _update(self, change: Callable[[ChaosState], Any], action: str) -> Response:
        services = self._services()
        _, raw = services.store.control()
        state = ChaosState.from_json(raw)
        change(state)
        services.store.set_chaos(state.to_json())
        services.refresh_control()
        services.audit.emit("chaos", action=action)
        return self._state_response()

    def _state_response(self) -> Response:
        _, raw = self._services().store.control()
        return json_response(ChaosState.from_json(raw).public(), headers={"Cache-Control": "no-store"})


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 4096:
        raise ValueError("body too large")
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the stack
        raise ValueError("body must be JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data
