"""`client_credentials`: a service gets a token with its own credentials (RFC 6749 4.4), then calls a
protected resource with it (introspection, RFC 7662, when the provider has one).

Access tokens are opaque to a client (RFC 6749 1.4): some providers issue JWTs, some random strings, and
some (oidc-provider) refuse to introspect or revoke their JWTs with `unsupported_token_type` (RFC 7009
2.2.1). Flows that only use introspection on the side accept that answer; flows about it do not."""

from __future__ import annotations

from typing import ClassVar

from harness.clients.flows.base import Flow
from harness.clients.oauth import client_auth, forged_tokens, introspection_expects, token_response_problem
from harness.contract import Outcome

UNSUPPORTED_TOKEN_TYPE = "unsupported_token_type"


class ClientCredentialsFlow(Flow):
    name: ClassVar[str] = "client_credentials"

    def get_token(self, resource: str | None = None) -> str | None:
        """A fresh access token (also used by the flows that need one to work on); for `resource`, an API
        named by an absolute URI (RFC 8707), when given."""
        form = {"grant_type": "client_credentials", "scope": self.ctx.api_scope}
        if resource is not None:
            form["resource"] = resource
        result = self.call("token", "POST", "token", validate=token_response_problem,
                           **client_auth(self.ctx.client, form))
        self.forged = forged_tokens(result.response if result is not None else None)
        body = result.json() if result is not None and result.ok else None
        return body["access_token"] if isinstance(body, dict) else None

    def introspect(self, step: str, token: str, *, active: bool, unsupported_ok: bool = False) -> bool:
        """True when the provider said what we know the token to be. With `unsupported_ok`, a provider
        that does not introspect this kind of token answers fine (the step is ok) but confirms nothing."""
        form = {"token": token, "token_type_hint": "access_token"}
        errors: dict[str, Outcome] = {UNSUPPORTED_TOKEN_TYPE: "ok"} if unsupported_ok else {}
        result = self.call(step, "POST", "introspection", validate=introspection_expects(active), errors=errors,
                           **client_auth(self.ctx.client, form))
        return result is not None and result.ok and result.reason != UNSUPPORTED_TOKEN_TYPE

    def steps(self) -> None:
        token = self.get_token()
        if token is not None and self.ctx.provider.url("introspection") is not None:
            step, genuine = self.presented("introspect")  # a forged token must be reported inactive
            self.introspect(step, token, active=genuine, unsupported_ok=genuine)
