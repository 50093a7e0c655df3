"""SSO journeys (the scenario's `flows:`), each a sequence of steps made through a Caller.

v1 has `client_credentials`; every flow is a class with a `name` and `run() -> bool`, registered in FLOWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import requests

from harness.clients.caller import Caller
from harness.scenario.model import Outcome


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)  # never printed, never recorded


def token_response_problem(response: requests.Response) -> Outcome | None:
    """RFC 6749 5.1: a JSON object with a bearer access_token. Anything else is a protocol error,
    even with a 200 (an HTML error page from a broken gateway, a truncated body...)."""
    body = response.json()
    if not isinstance(body, dict):
        return "protocol_error"
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        return "protocol_error"
    if str(body.get("token_type", "")).lower() != "bearer":
        return "protocol_error"
    if token.count(".") != 2:  # the embedded target issues RFC 9068 JWT access tokens
        return "protocol_error"
    return None


class ClientCredentialsFlow:
    """A service obtaining an access token with its own credentials (RFC 6749 4.4)."""

    name: ClassVar[str] = "client_credentials"

    def __init__(self, caller: Caller, base_url: str, credentials: ClientCredentials, scope: str = "api"):
        self.caller, self.base_url, self.credentials, self.scope = caller, base_url.rstrip("/"), credentials, scope

    def run(self) -> bool:
        result = self.caller.call(
            self.name,
            "token",
            "POST",
            f"{self.base_url}/token",
            endpoint="token",
            auth=(self.credentials.client_id, self.credentials.client_secret),
            data={"grant_type": "client_credentials", "scope": self.scope},
            validate=token_response_problem,
        )
        return result.ok


FLOWS: dict[str, type[ClientCredentialsFlow]] = {ClientCredentialsFlow.name: ClientCredentialsFlow}
