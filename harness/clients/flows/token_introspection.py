"""`token_introspection`: the provider must call a genuine token active and a forged one inactive
(RFC 7662); a forged token reported active counts as `security_violation`."""

from __future__ import annotations

from typing import ClassVar

from harness.clients.flows.client_credentials import ClientCredentialsFlow
from harness.clients.relying_party import with_alg_none, with_bad_signature


class TokenIntrospectionFlow(ClientCredentialsFlow):
    name: ClassVar[str] = "token_introspection"

    def steps(self) -> None:
        token = self.get_token()
        if token is None:
            return
        if self.introspect("introspect", token, active=True):
            self.introspect("introspect_forged", with_bad_signature(token), active=False)
            self.introspect("introspect_alg_none", with_alg_none(token), active=False)
