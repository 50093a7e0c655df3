"""`device_authorization`: RFC 8628 device login. The device asks for a code, polls the token endpoint
(first at once, then every interval, +5 s per slow_down) while a second actor, a browser with its own
cookies, opens the verification URI, signs in and approves, as a person would between two polls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from harness.clients.browser import Browser
from harness.clients.caller import OperationResult
from harness.clients.flows.base import Flow
from harness.clients.oauth import client_auth, requires, token_response_problem
from harness.clients.policy import KEEP_POLLING, poll_retrying
from harness.contract import Outcome

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# pending is the protocol working as meant; slow_down is the provider throttling us
POLL_ANSWERS: dict[str, Outcome] = {"authorization_pending": "ok", "slow_down": "http_429"}


class DeviceAuthorizationFlow(Flow):
    name: ClassVar[str] = "device_authorization"

    def approve(self, verification_uri: str, endpoint: str = "device_verification") -> None:
        browser = Browser(self.ctx.caller, self.label, self.ctx.user, self.ctx.redirect_uri)
        try:
            landing = browser.visit(verification_uri, "approve", endpoint)
        finally:
            browser.close()
        if landing.last is not None and not landing.last.ok:
            self.fail(landing.last.outcome)

    def poll(self, poll_once: Callable[[], OperationResult], interval_s: Any, expires_in_s: Any,
             verification_uri: str) -> OperationResult | None:
        approved = False

        def approve_once(_: object) -> None:
            nonlocal approved
            if not approved:
                approved = True
                self.approve(verification_uri)

        interval = float(interval_s) if isinstance(interval_s, int | float) else None
        expires = float(expires_in_s) if isinstance(expires_in_s, int | float) else 600.0
        retrying = poll_retrying(interval, expires, sleep=self.ctx.caller.wait, before_sleep=approve_once)
        last: OperationResult = retrying(poll_once)
        if last.reason in KEEP_POLLING:
            self.fail("timeout")  # the device code ran out while still pending
            return None
        self.fail(last.outcome)
        return last if last.ok else None

    def steps(self) -> None:
        start = self.call("device_authorization", "POST", "device_authorization",
                          validate=requires("device_code", "user_code", "verification_uri", "expires_in"),
                          **client_auth(self.ctx.client, {"scope": self.ctx.scope,
                                                          "client_id": self.ctx.client.client_id}))
        body = start.json() if start is not None and start.ok else None
        if not isinstance(body, dict):
            return
        form = {"grant_type": DEVICE_CODE_GRANT, "device_code": str(body["device_code"]),
                "client_id": self.ctx.client.client_id}

        def poll_once() -> OperationResult:
            result = self.call("poll", "POST", "token", validate=token_response_problem, errors=POLL_ANSWERS,
                               decides_journey=False, **client_auth(self.ctx.client, form))
            assert result is not None  # the token endpoint was there for device_authorization's answer
            return result

        uri = body.get("verification_uri_complete") or f"{body['verification_uri']}?user_code={body['user_code']}"
        self.poll(poll_once, body.get("interval"), body.get("expires_in"), str(uri))
