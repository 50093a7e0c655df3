"""`authorization_code_pkce`: authorize, sign in, consent, code exchange with PKCE (RFC 7636), the ID
token verified against the JWKS (signature, iss, aud, exp, nonce), then userinfo.

Tokens the embedded target forged on purpose (its security chaos) are presented under their own steps
and must be refused: an ID token under `id_token_forged_<forgery>` (the login then ends there, as a
relying party's would, without failing the journey: refusing it was right), an access token at userinfo
under `userinfo_forged_<forgery>` (the target must answer invalid_token)."""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar
from urllib.parse import urlencode

from harness.clients.browser import Browser
from harness.clients.flows.base import Flow
from harness.clients.oauth import client_auth, forged_tokens, pkce_pair, requires, token_response_problem
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
        self.forged = forged_tokens(result.response if result is not None else None)
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
            self.rp = RelyingParty(cache, issuer=issuer, audience=self.ctx.client.client_id, lax=self.ctx.lax)
        t0 = time.perf_counter()
        verdict = self.rp.verify(id_token, nonce=nonce) if isinstance(id_token, str) else None
        ms = (time.perf_counter() - t0) * 1000.0
        step, genuine = self.presented("id_token", "id_token")
        if not genuine:  # forged on purpose: refusing it is right, accepting it the violation
            accepted = verdict is not None and verdict.accepted
            self.ctx.caller.verdict(self.label, step, "jwks", "security_violation" if accepted else "ok", ms,
                                    verdict.reason if verdict else "missing")
            return False
        if verdict is None or not verdict.accepted:
            outcome = verdict.fetch_outcome if verdict and verdict.fetch_outcome != "ok" else "protocol_error"
            reason = verdict.reason if verdict else "missing"
            self.ctx.caller.verdict(self.label, step, "jwks", outcome, ms, reason)
            return False
        self.ctx.caller.verdict(self.label, step, "jwks", "ok", ms, "valid")
        return True

    def userinfo(self, access_token: str) -> bool:
        step, genuine = self.presented("userinfo")
        if not genuine:  # forged on purpose: the provider must not serve it
            self.call(step, "GET", "userinfo", validate=lambda r: "security_violation",
                      errors={"invalid_token": "ok"}, headers={"Authorization": f"Bearer {access_token}"})
            return False
        result = self.call(step, "GET", "userinfo", validate=requires("sub"),
                           headers={"Authorization": f"Bearer {access_token}"})
        return result is not None and result.ok

    def steps(self) -> None:
        body = self.login()
        if body is not None:
            self.userinfo(body["access_token"])
