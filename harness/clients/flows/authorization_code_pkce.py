"""`authorization_code_pkce`: authorize, sign in, consent, code exchange with PKCE (RFC 7636), the ID
token verified against the JWKS (signature, iss, aud, exp, nonce), then userinfo."""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar
from urllib.parse import urlencode

from harness.clients.browser import Browser
from harness.clients.flows.base import Flow
from harness.clients.oauth import client_auth, pkce_pair, requires, token_response_problem
from harness.clients.relying_party import JwksCache, RelyingParty


class AuthorizationCodePkceFlow(Flow):
    name: ClassVar[str] = "authorization_code_pkce"
    rp: RelyingParty | None = None

    def login(self) -> dict[str, Any] | None:
        """The whole interactive login; the token response body, or None (the journey says why)."""
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        authorize = self.ctx.provider.url("authorize")
        if authorize is None:
            self.fail()
            return None
        scope = self.requested_scope()
        query = {"response_type": "code", "client_id": self.ctx.client.client_id, "redirect_uri": self.ctx.redirect_uri,
                 "scope": scope, "state": state, "nonce": nonce, "code_challenge": challenge,
                 "code_challenge_method": "S256"}
        if "offline_access" in scope.split():
            # OIDC Core 11: offline access needs prompt=consent, else a provider may drop the scope
            # (oidc-provider does) and no refresh token comes back
            query["prompt"] = "consent"
        browser = Browser(self.ctx.caller, self.label, self.ctx.user, self.ctx.redirect_uri)
        try:
            landing = browser.visit(f"{authorize}?{urlencode(query)}", "authorize", "authorize")
        finally:
            browser.close()
        if landing.query is None or "code" not in landing.query:
            self.fail("http_4xx" if landing.query and "error" in landing.query else "protocol_error")
            return None
        if landing.query.get("state") != state:  # a code for another login: refuse it (CSRF)
            self.fail()
            return None
        form = {"grant_type": "authorization_code", "code": landing.query["code"],
                "redirect_uri": self.ctx.redirect_uri, "code_verifier": verifier}
        result = self.call("token", "POST", "token", validate=token_response_problem,
                           **client_auth(self.ctx.client, form))
        body = result.json() if result is not None and result.ok else None
        if not isinstance(body, dict):
            return None
        if not self.verify_id_token(body.get("id_token"), nonce):
            return None
        return body

    def requested_scope(self) -> str:
        return self.ctx.scope

    def verify_id_token(self, id_token: object, nonce: str | None) -> bool:
        if self.rp is None:
            cache = JwksCache(self.ctx.provider, self.ctx.caller, self.label)
            # the discovered issuer is the provider's own, also when reached through the proxy (OIDC
            # Discovery 4.3: it must equal `iss` exactly), so it is checked for the embedded target too
            issuer = self.ctx.provider.issuer
            self.rp = RelyingParty(cache, issuer=issuer, audience=self.ctx.client.client_id)
        t0 = time.perf_counter()
        verdict = self.rp.verify(id_token, nonce=nonce) if isinstance(id_token, str) else None
        ms = (time.perf_counter() - t0) * 1000.0
        if verdict is None or not verdict.accepted:
            outcome = verdict.fetch_outcome if verdict and verdict.fetch_outcome != "ok" else "protocol_error"
            reason = verdict.reason if verdict else "missing"
            self.ctx.caller.verdict(self.label, "id_token", "jwks", outcome, ms, reason)
            return False
        self.ctx.caller.verdict(self.label, "id_token", "jwks", "ok", ms, "valid")
        return True

    def userinfo(self, access_token: str) -> bool:
        result = self.call("userinfo", "GET", "userinfo", validate=requires("sub"),
                           headers={"Authorization": f"Bearer {access_token}"})
        return result is not None and result.ok

    def steps(self) -> None:
        body = self.login()
        if body is not None:
            self.userinfo(body["access_token"])
