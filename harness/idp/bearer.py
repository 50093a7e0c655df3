"""Checking an access token presented to us (userinfo, the AWS portal, introspection, revocation).

A token is good only if its signature verifies under a key we publish, with the algorithm that key is for
(never the one the header asks for, so `alg: none` and HS256-with-the-public-key tricks fail), it is an
RFC 9068 access token (`typ: at+jwt`, so an ID token is never one), its claims are what we issue (our
`iss`, our `aud`, an `exp` still ahead by our own clock), and the store knows its jti as an unrevoked,
unexpired access token for the same subject, client and scope. The claim checks are defence in depth: a
token signed by a stolen or misused key, naming a live jti, still has to agree with what we issued.

"Our own clock" is the issuer's, chaos clock skew included: a token issued with skewed claims is judged
by the same skewed clock, so the target stays consistent with itself while verifiers elsewhere see the
skew (the store's true times still bound every token's life).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from harness.idp.keys import KeyRing
from harness.idp.store import Store, TokenRecord

MAX_TOKEN_LEN = 8192
ACCESS_TOKEN_TYP = "at+jwt"  # RFC 9068 section 2.1
ID_TOKEN_TYP = "JWT"


@dataclass(frozen=True)
class Expected:
    """What our access tokens say about themselves."""

    issuer: str
    audience: str
    skew_s: int = 0


def token_record(
    keys: KeyRing, store: Store, token: str, expected: Expected, *, now: float | None = None
) -> TokenRecord | None:
    """The store's record of a valid access token, or None (never says why: callers answer one way)."""
    claims = verified_claims(keys, token, typ=ACCESS_TOKEN_TYP)
    if claims is None or claims.get("iss") != expected.issuer:
        return None
    aud = claims.get("aud")
    if aud != expected.audience and not (isinstance(aud, list) and expected.audience in aud):
        return None
    true_now = time.time() if now is None else now
    exp, jti = claims.get("exp"), claims.get("jti")
    if not isinstance(exp, int) or exp <= true_now + expected.skew_s or not isinstance(jti, str):
        return None
    record = store.get_token(jti)
    if record is None or record.kind != "access" or record.revoked or record.expires_at <= true_now:
        return None
    if (claims.get("sub"), claims.get("client_id"), claims.get("scope")) != (record.sub, record.client_id,
                                                                              record.scope):
        return None
    return record


def verified_jti(keys: KeyRing, token: str) -> str | None:
    claims = verified_claims(keys, token)
    jti = None if claims is None else claims.get("jti")
    return jti if isinstance(jti, str) else None


def verified_claims(
    keys: KeyRing, token: str, *, audience: str | None = None, typ: str | None = None
) -> dict[str, object] | None:
    """Claims of a JWT we signed (signature only, plus the header's `typ` when given; exp and aud are the
    caller's business unless `audience`)."""
    if not token or len(token) > MAX_TOKEN_LEN or token.count(".") != 2:
        return None
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        found = keys.public_key(kid) if isinstance(kid, str) else None
        if found is None or header.get("alg") != found[1]:
            return None
        if typ is not None and header.get("typ") != typ:
            return None
        key, alg = found
        options = {"verify_exp": False, "verify_aud": audience is not None, "verify_iat": False}
        claims: dict[str, object] = jwt.decode(
            token, key, algorithms=[alg], audience=audience, options=options  # type: ignore[arg-type]
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return claims
