"""Grant types of the token endpoint, one handler each, in a registry keyed by the wire name.

A handler gets an authenticated client and the request's form and returns the JSON body of a successful
token response, or raises an OAuthError. Authorization code, refresh token and device code grants will
register here beside client_credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.target.oauth import InvalidScope, UnauthorizedClient
from harness.target.services import Services
from harness.target.store import ClientRecord

GrantHandler = Callable[[Services, ClientRecord, Mapping[str, str]], dict[str, Any]]


def granted_scope(requested: str | None, allowed: tuple[str, ...]) -> str:
    """The scope to grant: all of the client's scopes when none are asked for, else exactly those asked
    for if the client may have every one of them (RFC 6749 section 3.3)."""
    if requested is None or not requested.strip():
        return " ".join(allowed)
    asked = list(dict.fromkeys(requested.split()))  # keep order, drop repeats
    refused = [s for s in asked if s not in allowed]
    if refused:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(refused)}")
    return " ".join(asked)


def client_credentials(services: Services, client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    if "client_credentials" not in client.grant_types:
        raise UnauthorizedClient("this client may not use the client_credentials grant")
    scope = granted_scope(form.get("scope"), client.scopes)
    issued = services.tokens.access_token(client_id=client.client_id, sub=client.client_id, scope=scope)
    services.audit.emit(
        "token_issued",
        grant_type="client_credentials",
        client_id=client.client_id,
        jti=issued.jti,
        scope=scope,
    )
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }


GRANTS: dict[str, GrantHandler] = {
    "client_credentials": client_credentials,
}
