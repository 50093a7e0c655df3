"""Small OAuth pieces the flows share: PKCE, client authentication, and the checks that turn a response
the protocol does not allow into an outcome (never an exception that escapes a flow)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from harness.contract import FORGED_HEADER, Outcome


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)  # never printed, never recorded


@dataclass(frozen=True)
class UserCredentials:
    username: str
    password: str = field(repr=False)


def pkce_pair() -> tuple[str, str]:
    """RFC 7636: a 64-character verifier (as the AWS CLI sends) and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)[:64]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def client_auth(client: ClientCredentials, form: Mapping[str, str]) -> dict[str, Any]:
    """requests kwargs for the token endpoint: HTTP Basic for a confidential client (RFC 6749 2.3.1),
    `client_id` in the form for a public one."""
    if client.client_secret:
        return {"auth": (client.client_id, client.client_secret), "data": dict(form)}
    return {"data": {**form, "client_id": client.client_id}}


def json_object(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def token_response_problem(response: requests.Response) -> Outcome | None:
    """RFC 6749 5.1: a JSON object with a bearer access_token. Anything else is a protocol error,
    even with a 200 (an HTML error page from a broken gateway, a truncated body...)."""
    body = json_object(response)
    if body is None:
        return "protocol_error"
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        return "protocol_error"
    if str(body.get("token_type", "")).lower() != "bearer":
        return "protocol_error"
    return None


def aws_token_problem(response: requests.Response) -> Outcome | None:
    """CreateToken's camelCase output (aws-sso-wire.md section 2)."""
    body = json_object(response)
    if body is None or not isinstance(body.get("accessToken"), str) or not body["accessToken"]:
        return "protocol_error"
    if not isinstance(body.get("expiresIn"), int):
        return "protocol_error"
    return None


def requires(*keys: str) -> Any:
    """A validator: the body is a JSON object holding every key."""

    def check(response: requests.Response) -> Outcome | None:
        body = json_object(response)
        if body is None or any(k not in body for k in keys):
            return "protocol_error"
        return None

    return check


def introspection_expects(active: bool) -> Any:
    """RFC 7662: `active` must be what we know the token to be. A token we know to be invalid, expired or
    revoked reported active is the provider letting it through: a security violation, not an error."""

    def check(response: requests.Response) -> Outcome | None:
        body = json_object(response)
        if body is None or not isinstance(body.get("active"), bool):
            return "protocol_error"
        if body["active"] and not active:
            return "security_violation"
        if not body["active"] and active:
            return "protocol_error"
        return None

    return check


def forged_tokens(response: requests.Response | None) -> dict[str, str]:
    """Which tokens of a token response the embedded target forged on purpose (security chaos), and how:
    {"access_token": "wrong_aud"}. Empty for every other provider, and for genuine tokens. The flows use
    it as the ground truth of what a relying party must refuse; the relying party never sees it."""
    raw = response.headers.get(FORGED_HEADER, "") if response is not None else ""
    out: dict[str, str] = {}
    for item in raw.split(","):
        field, _, kind = item.strip().partition("=")
        if field and kind.isidentifier():
            out[field] = kind
    return out
