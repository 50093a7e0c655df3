"""`token_introspection`: the provider must call a genuine token active and a forged one inactive
(RFC 7662); a forged token reported active counts as `security_violation`. Forgeries follow the token's
form: a JWT gets a bad signature and alg=none, an opaque token one character changed."""

from __future__ import annotations

from typing import ClassVar

from harness.clients.flows.client_credentials import ClientCredentialsFlow
from harness.clients.relying_party import forgeries


class TokenIntrospectionFlow(ClientCredentialsFlow):
    name: ClassVar[str] = "token_introspection"

    def steps(self) -> None:
        token = self.get_token()
        if token is None:
            return
        step, genuine = self.presented("introspect")
        if not genuine:  # forged by the target on purpose: must be reported inactive, and that is all
            self.introspect(step, token, active=False)
            return
        if self.introspect("introspect", token, active=True):
            for step, forged in forgeries(token):
                self.introspect(f"introspect_{step}", forged, active=False)
