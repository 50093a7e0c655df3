"""OAuth 2.0 error values (RFC 6749 section 5.2) and the JSON responses both faces answer with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

# Token responses and errors must not be cached (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = 'Basic realm="harness-target", charset="UTF-8"'


class OAuthError(Exception):
    """An error the token endpoint answers with; `status` follows RFC 6749 section 5.2."""

    status = 400
    error = "invalid_request"

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description

    def headers(self) -> dict[str, str]:
        return dict(NO_STORE)

    def response(self) -> Response:
        body = {"error": self.error, "error_description": self.description}
        return json_response(body, status=self.status, headers=self.headers())


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    status = 401
    error = "invalid_client"

    def __init__(self, description: str, *, reason: str, client_id: str | None):
        super().__init__(description)
        self.reason = reason  # for the audit log only; the client sees one vague description
        self.client_id = client_id

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "WWW-Authenticate": BASIC_CHALLENGE}


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class RateLimited(OAuthError):
    """Per-client rate limit (RFC 6585 429 + Retry-After); the AWS face answers SlowDownException."""

    status = 429
    error = "temporarily_unavailable"

    def __init__(self, description: str, *, retry_after_s: int):
        super().__init__(description)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {**NO_STORE, "Retry-After": str(self.retry_after_s)}


# RFC 8628 section 3.5
class AuthorizationPending(OAuthError):
    error = "authorization_pending"


class SlowDown(OAuthError):
    error = "slow_down"


class AccessDenied(OAuthError):
    error = "access_denied"


class ExpiredToken(OAuthError):
    error = "expired_token"


# RFC 7591 (dynamic registration, the AWS RegisterClient face)
class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuthError):
    error = "invalid_redirect_uri"


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json_bytes(body), status_code=status, headers=headers, media_type="application/json")
