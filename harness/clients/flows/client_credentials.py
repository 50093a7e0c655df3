"""`client_credentials`: a service gets a token with its own credentials (RFC 6749 4.4), then calls a
protected resource with it (introspection, RFC 7662, when the provider has one)."""

from __future__ import annotations

from typing import ClassVar

from harness.clients.flows.base import Flow
from harness.clients.oauth import client_auth, introspection_expects, token_response_problem


class ClientCredentialsFlow(Flow):
    name: ClassVar[str] = "client_credentials"

    def get_token(self) -> str | None:
        """A fresh access token (also used by the flows that need one to work on)."""
        form = {"grant_type": "client_credentials", "scope": self.ctx.api_scope}
        result = self.call("token", "POST", "token", validate=token_response_problem,
                           **client_auth(self.ctx.client, form))
        body = result.json() if result is not None and result.ok else None
        return body["access_token"] if isinstance(body, dict) else None

    def introspect(self, step: str, token: str, *, active: bool) -> bool:
        form = {"token": token, "token_type_hint": "access_token"}
        result = self.call(step, "POST", "introspection", validate=introspection_expects(active),
                           **client_auth(self.ctx.client, form))
        return result is not None and result.ok

    def steps(self) -> None:
        token = self.get_token()
        if token is not None and self.ctx.provider.url("introspection") is not None:
            self.introspect("introspect", token, active=True)
