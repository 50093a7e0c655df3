"""`revocation`: revoke a token (RFC 7009) and confirm the provider refuses it afterwards: introspection
reporting it active is a `security_violation`."""

from __future__ import annotations

from typing import ClassVar

from harness.clients.flows.client_credentials import UNSUPPORTED_TOKEN_TYPE, ClientCredentialsFlow
from harness.clients.oauth import client_auth
from harness.contract import Outcome


class RevocationFlow(ClientCredentialsFlow):
    name: ClassVar[str] = "revocation"

    def revoke(self, token: str, *, unsupported_ok: bool = False) -> bool:
        """True when the provider revoked the token. `unsupported_token_type` (RFC 7009 2.2.1: this server
        does not revoke such tokens) fails this flow, whose point is revocation; with `unsupported_ok` it
        is a correct answer that revoked nothing."""
        form = {"token": token, "token_type_hint": "access_token"}
        errors: dict[str, Outcome] = {UNSUPPORTED_TOKEN_TYPE: "ok"} if unsupported_ok else {}
        result = self.call("revoke", "POST", "revocation", errors=errors, **client_auth(self.ctx.client, form))
        return result is not None and result.ok and result.reason != UNSUPPORTED_TOKEN_TYPE

    def steps(self) -> None:
        token = self.get_token()
        if token is not None and self.revoke(token):
            self.introspect("introspect_revoked", token, active=False)
