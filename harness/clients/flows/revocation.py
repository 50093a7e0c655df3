"""`revocation`: revoke a token (RFC 7009) and confirm the provider refuses it afterwards: introspection
reporting it active is a `security_violation`."""

from __future__ import annotations

from typing import ClassVar

from harness.clients.flows.client_credentials import ClientCredentialsFlow
from harness.clients.oauth import client_auth


class RevocationFlow(ClientCredentialsFlow):
    name: ClassVar[str] = "revocation"

    def revoke(self, token: str) -> bool:
        form = {"token": token, "token_type_hint": "access_token"}
        result = self.call("revoke", "POST", "revocation", **client_auth(self.ctx.client, form))
        return result is not None and result.ok

    def steps(self) -> None:
        token = self.get_token()
        if token is not None and self.revoke(token):
            self.introspect("introspect_revoked", token, active=False)
