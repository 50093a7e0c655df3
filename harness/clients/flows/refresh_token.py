"""`refresh_token`: a user keeps a session: logs in once (authorization code + PKCE), then refreshes
before expiry on each journey. Rotation (RFC 9700 4.14): now and then the replaced refresh token is
presented again and must be refused; accepted is a `security_violation`. Reuse detection may revoke the
whole family, so after that check the session starts over. The login asks for `offline_access` (OIDC
Core 11), the standard way to ask for a refresh token; a provider that issues one anyway ignores it."""

from __future__ import annotations

from typing import Any, ClassVar

from harness.clients.flows.authorization_code_pkce import AuthorizationCodePkceFlow
from harness.clients.oauth import client_auth, token_response_problem

REUSE_CHECK_PROBABILITY = 0.1


class RefreshTokenFlow(AuthorizationCodePkceFlow):
    name: ClassVar[str] = "refresh_token"
    refresh: str | None = None

    def requested_scope(self) -> str:
        scope = self.ctx.scope.split()
        return " ".join(scope if "offline_access" in scope else [*scope, "offline_access"])

    def steps(self) -> None:
        if self.refresh is None:
            body = self.login()
            self.refresh = body.get("refresh_token") if body else None
            if body is not None and not isinstance(self.refresh, str):
                self.fail()  # no refresh token offered: nothing to keep a session with
            return
        old = self.refresh
        body = self.exchange("refresh", old)
        if body is None:
            self.refresh = None
            return
        new = body.get("refresh_token")
        self.refresh = new if isinstance(new, str) else old
        if new and new != old and self.ctx.rng.random() < REUSE_CHECK_PROBABILITY:
            self.exchange("refresh_reuse", old, expect_refused=True)
            self.refresh = None

    def exchange(self, step: str, refresh: str, expect_refused: bool = False) -> dict[str, Any] | None:
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        errors: dict[str, Any] = {"invalid_grant": "ok"} if expect_refused else {}
        validate = (lambda r: "security_violation") if expect_refused else token_response_problem
        result = self.call(step, "POST", "token", validate=validate, errors=errors,
                           **client_auth(self.ctx.client, form))
        body = result.json() if result is not None and result.ok and not expect_refused else None
        return body if isinstance(body, dict) else None
