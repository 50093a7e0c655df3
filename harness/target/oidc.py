"""The standard OIDC face: discovery, JWKS and the form-encoded token endpoint.

Discovery and JWKS are serialized once per process; the token endpoint parses the form itself (no
multipart dependency, and cheaper than a general form parser), authenticates the client and hands over
to the grant registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from harness.scenario.endpoints import EMBEDDED_PATHS
from harness.target import clientauth
from harness.target.config import TargetConfig
from harness.target.directory import SCOPES_SUPPORTED
from harness.target.grants import GRANTS
from harness.target.keys import SUPPORTED_ALGS
from harness.target.oauth import (
    NO_STORE,
    InvalidClient,
    InvalidRequest,
    OAuthError,
    UnsupportedGrantType,
    json_bytes,
    json_response,
)
from harness.target.services import Services

MAX_FORM_BYTES = 16 * 1024
DISCOVERY_CACHE = {"Cache-Control": "public, max-age=300"}
# Short, so that verifiers notice a key rotation within a minute.
JWKS_CACHE = {"Cache-Control": "public, max-age=60"}


def discovery_document(config: TargetConfig, grant_types: Iterable[str]) -> dict[str, Any]:
    """OpenID Provider Metadata (OIDC Discovery 1.0 section 3), listing only what this target serves."""
    return {
        "issuer": config.issuer,
        "token_endpoint": config.url(EMBEDDED_PATHS["token"]),
        "jwks_uri": config.url(EMBEDDED_PATHS["jwks"]),
        "grant_types_supported": sorted(grant_types),
        "token_endpoint_auth_methods_supported": list(clientauth.AUTH_METHODS),
        # No authorization endpoint yet, hence no response types; "code" arrives with the PKCE grant.
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [config.signing_alg],
        "access_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"],
    }


class OidcFace:
    """Handlers of the OIDC face, bound to one process's services."""

    def __init__(self, services: Services):
        self.services = services
        self._discovery = json_bytes(discovery_document(services.config, GRANTS))
        self._jwks = services.keys.jwks_json

    async def discovery(self, request: Request) -> Response:
        return Response(self._discovery, media_type="application/json", headers=DISCOVERY_CACHE)

    async def jwks(self, request: Request) -> Response:
        return Response(self._jwks, media_type="application/json", headers=JWKS_CACHE)

    async def token(self, request: Request) -> Response:
        """`POST /token` with an application/x-www-form-urlencoded body (RFC 6749 section 4.4.2)."""
        try:
            form = parse_form(await request.body())
            return json_response(self._token(request, form), headers=NO_STORE)
        except OAuthError as exc:
            return exc.response()

    def _token(self, request: Request, form: dict[str, str]) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required")
        handler = GRANTS.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType(f"grant_type {grant_type[:64]!r} is not supported")
        try:
            creds = clientauth.presented_credentials(request.headers.get("authorization"), form)
            client = clientauth.authenticate(self.services.store, creds)
        except InvalidClient as exc:
            self.services.audit.emit("client_auth_failed", client_id=exc.client_id, reason=exc.reason)
            raise
        return handler(self.services, client, form)


def parse_form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict; a repeated parameter is an error (RFC 6749
    section 3.2 "parameters MUST NOT be included more than once")."""
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("request body too large")
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("malformed form body") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidRequest(f"parameter {key[:64]!r} repeated")
        form[key] = value
    return form
