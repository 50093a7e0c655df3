"""Client authentication at the token endpoint: HTTP Basic, `client_secret_post` (RFC 6749 2.3.1) or,
for public clients, `none` (the client_id alone). Every face and endpoint that authenticates a client comes
here, so a secret past its `secret_expires_at` (RFC 7591; AWS RegisterClient's `clientSecretExpiresAt`) is
refused everywhere alike.
How secrets are stored and compared (and why SHA-256, not a slow KDF) is in credentials.py."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from harness.idp.credentials import secret_matches
from harness.idp.oauth import InvalidClient, InvalidRequest
from harness.idp.store import ClientRecord, Store

AUTH_METHODS: tuple[str, ...] = ("client_secret_basic", "client_secret_post", "none")
MAX_CLIENT_ID_LEN = 256


@dataclass(frozen=True)
class PresentedCredentials:
    client_id: str
    secret: str | None
    method: str  # one of AUTH_METHODS, or "none"


def presented_credentials(authorization: str | None, form: Mapping[str, str]) -> PresentedCredentials:
    """What the request offers as client credentials; raises if it offers them wrongly."""
    in_form = "client_secret" in form
    if authorization is not None:
        if in_form:
            raise InvalidRequest("use one client authentication method, not several")
        return _from_basic(authorization, form.get("client_id"))
    client_id = form.get("client_id")
    if not client_id:
        raise InvalidClient("client authentication failed", reason="no_credentials", client_id=None)
    secret = form.get("client_secret")
    return PresentedCredentials(client_id, secret, "client_secret_post" if in_form else "none")


def _from_basic(authorization: str, form_client_id: str | None) -> PresentedCredentials:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("client authentication failed", reason="unsupported_auth_scheme", client_id=None)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials", reason="malformed_basic", client_id=None) from None
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials", reason="malformed_basic", client_id=None)
    # RFC 6749 2.3.1: both halves are form-urlencoded before being joined.
    client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if form_client_id is not None and form_client_id != client_id:
        raise InvalidRequest("client_id in the body does not match the Authorization header")
    return PresentedCredentials(client_id, secret, "client_secret_basic")


def authenticate(store: Store, creds: PresentedCredentials, *, allow_public: bool = False) -> ClientRecord:
    """The client these credentials prove; InvalidClient (with a reason for the audit log) otherwise.
    A public client (no stored secret) authenticates by its id alone where `allow_public` says so (the
    PKCE, refresh and device grants, revocation); it may never present a secret."""
    client_id = creds.client_id[:MAX_CLIENT_ID_LEN]
    client = store.get_client(client_id) if len(creds.client_id) <= MAX_CLIENT_ID_LEN else None
    stored = client.secret_sha256 if client is not None else None
    if creds.secret is None:
        if allow_public and client is not None and not client.is_confidential:
            return client
        raise InvalidClient("client authentication failed", reason="no_secret", client_id=client_id)
    if not secret_matches(creds.secret, stored):
        reason = "unknown_client" if client is None else "bad_secret"
        raise InvalidClient("client authentication failed", reason=reason, client_id=client_id)
    assert client is not None  # secret_matches is False for a missing client
    if client.secret_expired(time.time()):
        raise InvalidClient("client authentication failed", reason="secret_expired", client_id=client_id)
    return client
