"""Grant types of the token endpoint, one handler each, in a registry keyed by the wire name. Both faces
use it: the OIDC face hands over its form, the AWS face its JSON renamed to the same keys.

A handler gets an authenticated client and the request's parameters and returns the JSON body of a
successful token response (RFC 6749 names), or raises an OAuthError.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.idp.directory import DEVICE_GRANT, get_user_by_sub
from harness.idp.flowstore import RefreshToken
from harness.idp.oauth import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    SlowDown,
    UnauthorizedClient,
)
from harness.idp.services import Services
from harness.idp.store import ClientRecord

GrantHandler = Callable[[Services, ClientRecord, Mapping[str, str]], dict[str, Any]]
VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def granted_scope(requested: str | None, allowed: tuple[str, ...]) -> str:
    """The scope to grant: all of the client's scopes when none are asked for, else exactly those asked
    for if the client may have every one of them (RFC 6749 section 3.3)."""
    if requested is None or not requested.strip():
        return " ".join(allowed)
    asked = list(dict.fromkeys(requested.split()))  # keep order, drop repeats
    refused = [s for s in asked if s not in allowed]
    if refused:
        raise InvalidScope(f"scope not allowed for this client: {' '.join(refused)[:200]}")
    return " ".join(asked)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _require_grant(client: ClientRecord, grant: str) -> None:
    if grant not in client.grant_types:
        raise UnauthorizedClient(f"this client may not use the {grant} grant")


def _reused(services: Services, client: ClientRecord, family: str, event: str, description: str) -> InvalidGrant:
    """A single-use credential presented again: someone holds a copy, so every token of its login dies
    (revoked before the audit line, so the line never claims a revocation that did not happen)."""
    services.flows.revoke_family(family)
    services.audit.emit(event, client_id=client.client_id, family=family)
    return InvalidGrant(description)


def client_credentials(services: Services, client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    _require_grant(client, "client_credentials")
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


def issue_user_tokens(
    services: Services,
    client: ClientRecord,
    *,
    grant_type: str,
    sub: str,
    scope: str,
    family: str,
    auth_time: int,
    nonce: str | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    """Access token, refresh token (if the client may refresh) and ID token (if `openid` was granted; with
    the browser session's `sid` when the login had one)."""
    config = services.config
    issued = services.tokens.access_token(client_id=client.client_id, sub=sub, scope=scope, family=family)
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scope,
    }
    if "refresh_token" in client.grant_types:
        now = int(time.time())
        refresh = "rt." + secrets.token_urlsafe(32)
        services.flows.add_refresh(
            refresh,
            RefreshToken(family, client.client_id, sub, scope, auth_time, now, now + config.refresh_token_ttl_s,
                         used=False, revoked=False),
        )
        body["refresh_token"] = refresh
    scopes = scope.split()
    if "openid" in scopes:
        extra: dict[str, Any] = {}
        user = get_user_by_sub(services.store, sub)
        if user is not None and "email" in scopes:
            extra["email"] = user.email
        if user is not None and "profile" in scopes:
            extra["preferred_username"] = user.username
        if sid is not None:
            extra["sid"] = sid
        body["id_token"] = services.tokens.id_token(
            client_id=client.client_id, sub=sub, ttl_s=config.id_token_ttl_s, auth_time=auth_time, nonce=nonce,
            extra=extra,
        )
    services.audit.emit(
        "token_issued", grant_type=grant_type, client_id=client.client_id, sub=sub, jti=issued.jti, scope=scope,
        family=family,
    )
    return body


def authorization_code(services: Services, client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    _require_grant(client, "authorization_code")
    code, redirect_uri, verifier = form.get("code"), form.get("redirect_uri"), form.get("code_verifier")
    if not code or not redirect_uri:
        raise InvalidRequest("code and redirect_uri are required")
    if not verifier:
        raise InvalidRequest("code_verifier is required (PKCE)")
    record = services.flows.get_code(code)
    if record is None or record.client_id != client.client_id:
        raise InvalidGrant("authorization code is invalid")
    if record.used or not services.flows.use_code(code):
        # RFC 6749 section 4.1.2: a replayed code revokes what it was exchanged for.
        raise _reused(services, client, record.family, "code_replayed", "authorization code was already used")
    if record.expires_at <= time.time():
        raise InvalidGrant("authorization code has expired")
    if record.redirect_uri != redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    if not VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), record.code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
    return issue_user_tokens(
        services, client, grant_type="authorization_code", sub=record.sub, scope=record.scope,
        family=record.family, auth_time=record.auth_time, nonce=record.nonce, sid=record.sid,
    )


def refresh_token(services: Services, client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    _require_grant(client, "refresh_token")
    token = form.get("refresh_token")
    if not token:
        raise InvalidRequest("refresh_token is required")
    record = services.flows.get_refresh(token) if len(token) <= 512 else None
    if record is None or record.client_id != client.client_id or record.revoked:
        raise InvalidGrant("refresh token is invalid")
    if record.used or not services.flows.use_refresh(token):
        # RFC 9700 section 4.14.2: reuse of a rotated refresh token revokes the whole family.
        raise _reused(services, client, record.family, "refresh_token_reused", "refresh token was already used")
    if record.expires_at <= time.time():
        raise InvalidGrant("refresh token has expired")
    scope = record.scope
    if form.get("scope"):
        scope = granted_scope(form["scope"], tuple(record.scope.split()))
    return issue_user_tokens(
        services, client, grant_type="refresh_token", sub=record.sub, scope=scope, family=record.family,
        auth_time=record.auth_time,
    )


def device_code(services: Services, client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    _require_grant(client, DEVICE_GRANT)
    code = form.get("device_code")
    if not code:
        raise InvalidRequest("device_code is required")
    flows = services.flows
    record = flows.get_device_code(code) if len(code) <= 512 else None
    if record is None or record.client_id != client.client_id:
        raise InvalidGrant("device code is invalid")
    now = time.time()
    if record.status == "used":
        raise InvalidGrant("device code was already used")
    if record.expires_at <= now:
        raise ExpiredToken("device code has expired")
    too_fast = (
        record.last_poll is not None and record.interval_s > 0 and now - record.last_poll < record.interval_s
    )
    flows.record_poll(code, now, slow_down=too_fast)
    if too_fast:
        raise SlowDown(f"polled faster than the interval; wait {record.interval_s + 5} s between polls")
    if record.status == "pending":
        raise AuthorizationPending("authorization is still pending")
    if record.status == "denied":
        raise AccessDenied("the user denied the authorization")
    if record.sub is None or not flows.use_device_code(code):
        raise InvalidGrant("device code was already used")
    return issue_user_tokens(
        services, client, grant_type=DEVICE_GRANT, sub=record.sub, scope=record.scope,
        family=secrets.token_urlsafe(12), auth_time=record.auth_time or int(now),
    )


GRANTS: dict[str, GrantHandler] = {
    "client_credentials": client_credentials,
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    DEVICE_GRANT: device_code,
}
