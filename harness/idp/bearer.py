"""Checking an access token presented to us (userinfo, the AWS portal, introspection, revocation).

A token is good only if its signature verifies under a key we publish, with the algorithm that key is for
(never the one the header asks for, so `alg: none` and HS256-with-the-public-key tricks fail), and the
store knows its jti as an unrevoked access token that has not expired by the store's own clock.
"""

from __future__ import annotations

import time

import jwt

from harness.idp.keys import KeyRing
from harness.idp.store import Store, TokenRecord

MAX_TOKEN_LEN = 8192


def token_record(keys: KeyRing, store: Store, token: str, *, now: float | None = None) -> TokenRecord | None:
    """The store's record of a valid access token, or None (never says why: callers answer one way)."""
    jti = verified_jti(keys, token)
    if jti is None:
        return None
    record = store.get_token(jti)
    if record is None or record.kind != "access" or record.revoked:
        return None
    if record.expires_at <= (time.time() if now is None else now):
        return None
    return record


def verified_jti(keys: KeyRing, token: str) -> str | None:
    claims = verified_claims(keys, token)
    jti = None if claims is None else claims.get("jti")
    return jti if isinstance(jti, str) else None


def verified_claims(keys: KeyRing, token: str, *, audience: str | None = None) -> dict[str, object] | None:
    """Claims of a JWT we signed (signature only; exp and aud are the caller's business unless `audience`)."""
    if not token or len(token) > MAX_TOKEN_LEN or token.count(".") != 2:
        return None
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        found = keys.public_key(kid) if isinstance(kid, str) else None
        if found is None or header.get("alg") != found[1]:
            return None
        key, alg = found
        options = {"verify_exp": False, "verify_aud": audience is not None, "verify_iat": False}
        claims: dict[str, object] = jwt.decode(
            token, key, algorithms=[alg], audience=audience, options=options  # type: ignore[arg-type]
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return claims
