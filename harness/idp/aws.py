"""The AWS IAM Identity Center OIDC face (botocore service `sso-oidc`): RegisterClient,
StartDeviceAuthorization and CreateToken, camelCase JSON in and out, errors as botocore parses them
(awserrors.py). The grants themselves are the OIDC face's (grants.py), so both faces issue the same
tokens from the same store. Wire facts: /work/shared/reference/aws-sso-wire.md.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from harness.endpoints import EMBEDDED_PATHS
from harness.idp import clientauth, devices
from harness.idp.awserrors import oidc_error
from harness.idp.credentials import hash_secret
from harness.idp.directory import DEVICE_GRANT
from harness.idp.grants import GRANTS
from harness.idp.oauth import (
    NO_STORE,
    InvalidClient,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    RateLimited,
    UnsupportedGrantType,
    json_response,
)
from harness.idp.portal import PORTAL_SCOPE
from harness.idp.redirects import valid_redirect_uri
from harness.idp.services import Services
from harness.idp.store import ClientRecord

MAX_JSON_BYTES = 16 * 1024
MAX_JSON_DEPTH = 8
MAX_FIELD_LEN = 4096
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,256}")  # RFC 6749 section 3.3 scope-token
AWS_DEFAULT_SCOPES: tuple[str, ...] = (PORTAL_SCOPE,)
REGISTRABLE_GRANTS = frozenset({"authorization_code", "refresh_token", DEVICE_GRANT})
# CreateToken's JSON members -> the OAuth parameter names the grant handlers read
_PARAMS = {
    "grantType": "grant_type",
    "deviceCode": "device_code",
    "code": "code",
    "refreshToken": "refresh_token",
    "redirectUri": "redirect_uri",
    "codeVerifier": "code_verifier",
}
_OUT = {
    "access_token": "accessToken",
    "token_type": "tokenType",
    "expires_in": "expiresIn",
    "refresh_token": "refreshToken",
    "id_token": "idToken",
}


class AwsOidcFace:
    def __init__(self, services: Services):
        self.services = services

    async def register_client(self, request: Request) -> Response:
        try:
            body = await parse_json(request)
            return json_response(self._register(body), headers=NO_STORE)
        except OAuthError as exc:
            return oidc_error(exc)

    async def start_device_authorization(self, request: Request) -> Response:
        try:
            body = await parse_json(request)
            client = self._authenticate(body)
            start_url = _string(body, "startUrl", required=True)
            if not start_url.startswith("https://"):
                raise InvalidRequest("startUrl must be an https URL")
            scope = " ".join(client.scopes)
            auth = devices.start(self.services, client_id=client.client_id, scope=scope)
            out = {
                "deviceCode": auth.device_code,
                "userCode": auth.user_code,
                "verificationUri": auth.verification_uri,
                "verificationUriComplete": auth.verification_uri_complete,
                "expiresIn": auth.expires_in,
                "interval": auth.interval,
            }
            return json_response(out, headers=NO_STORE)
        except OAuthError as exc:
            return oidc_error(exc)

    async def create_token(self, request: Request) -> Response:
        try:
            if request.query_params.get("aws_iam"):
                raise InvalidRequest("CreateTokenWithIAM is not supported by this target")
            body = await parse_json(request)
            grant_type = _string(body, "grantType", required=True)
            handler = GRANTS.get(grant_type)
            if handler is None or grant_type == "client_credentials":  # not modelled by AWS
                raise UnsupportedGrantType(f"grantType {grant_type[:64]!r} is not supported")
            client = self._authenticate(body)
            params = {name: _string(body, member) for member, name in _PARAMS.items() if member in body}
            scope = body.get("scope")  # a JSON array that "has no effect" (AWS docs); validated anyway
            if scope is not None and (not isinstance(scope, list) or not all(isinstance(s, str) for s in scope)):
                raise InvalidRequest("scope must be an array of strings")
            out = handler(self.services, client, params)
            return json_response({_OUT[k]: v for k, v in out.items() if k in _OUT}, headers=NO_STORE)
        except OAuthError as exc:
            return oidc_error(exc)

    def _authenticate(self, body: dict[str, Any]) -> ClientRecord:
        client_id = _string(body, "clientId", required=True)
        secret = _string(body, "clientSecret", required=True)
        retry_after = self.services.retry_after_s(client_id)
        if retry_after is not None:
            raise RateLimited("too many requests for this client", retry_after_s=retry_after)
        creds = clientauth.PresentedCredentials(client_id, secret, "client_secret_post")
        try:
            return clientauth.authenticate(self.services.store, creds)
        except InvalidClient as exc:
            self.services.audit.emit("client_auth_failed", client_id=exc.client_id, reason=exc.reason, face="aws")
            raise

    def _register(self, body: dict[str, Any]) -> dict[str, Any]:
        config = self.services.config
        name = _string(body, "clientName", required=True)
        if _string(body, "clientType", required=True) != "public":
            raise InvalidClientMetadata("clientType must be public")
        scopes = _string_list(body, "scopes") or list(AWS_DEFAULT_SCOPES)
        if not all(SCOPE_TOKEN.fullmatch(s) for s in scopes) or len(scopes) > 50:
            raise InvalidScope("scopes must be 1..50 OAuth scope tokens")
        grants = _string_list(body, "grantTypes") or [DEVICE_GRANT, "refresh_token"]
        unknown = [g for g in grants if g not in REGISTRABLE_GRANTS]
        if unknown:
            raise UnsupportedGrantType(f"grant type not supported: {unknown[0][:64]}")
        redirect_uris = _string_list(body, "redirectUris")
        if not all(valid_redirect_uri(u) for u in redirect_uris) or len(redirect_uris) > 10:
            raise InvalidRedirectUri("redirect URIs must be https or http loopback URIs without a fragment")
        if "authorization_code" in grants and not redirect_uris:
            raise InvalidRedirectUri("the authorization_code grant needs redirectUris")
        for member in ("issuerUrl", "entitledApplicationArn"):
            _string(body, member)
        now = int(time.time())
        client_id = secrets.token_urlsafe(16)
        client_secret = "cs." + secrets.token_urlsafe(48)
        expires_at = now + config.aws_client_secret_ttl_s
        self.services.store.upsert_client(
            client_id,
            secret_sha256=hash_secret(client_secret),
            scopes=scopes,
            grant_types=grants,
            redirect_uris=redirect_uris,
            now=now,
            client_name=name,
            secret_expires_at=expires_at,
        )
        self.services.audit.emit("client_registered", client_id=client_id, client_name=name[:128], face="aws")
        return {
            "clientId": client_id,
            "clientSecret": client_secret,
            "clientIdIssuedAt": now,
            "clientSecretExpiresAt": expires_at,
            "authorizationEndpoint": config.url(EMBEDDED_PATHS["authorize"]),
            "tokenEndpoint": config.url(EMBEDDED_PATHS["token"]),
        }


async def parse_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise InvalidRequest("request body too large")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nesting deeper than the stack
        raise InvalidRequest("request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    _check_text(data)
    return data


def _check_text(data: dict[str, Any]) -> None:
    """Refuse what JSON parses but nothing downstream can hold: nesting beyond MAX_JSON_DEPTH (no member of
    ours nests at all) and strings that are not Unicode text, such as a lone surrogate written `\ud800`,
    which SQLite and UTF-8 encoders reject with an exception. Iterative: the walk itself cannot overflow."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidRequest("request body holds a string that is not valid Unicode") from None
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidRequest(f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def _string(body: dict[str, Any], member: str, *, required: bool = False) -> str:
    value = body.get(member)
    if value is None:
        if required:
            raise InvalidRequest(f"{member} is required")
        return ""
    if not isinstance(value, str) or len(value) > MAX_FIELD_LEN or (required and not value):
        raise InvalidRequest(f"{member} must be a non-empty string of at most {MAX_FIELD_LEN} characters")
    return value


def _string_list(body: dict[str, Any], member: str) -> list[str]:
    value = body.get(member)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100 or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequest(f"{member} must be an array of non-empty strings")
    return list(dict.fromkeys(value))


