"""Minting access tokens: RFC 9068 JWT access tokens, recorded in the store so that introspection,
revocation and the harness's fail-closed checks can ask about any token by its jti later."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.target.keys import KeyRing
from harness.target.store import Store

ACCESS_TOKEN_TYP = "at+jwt"  # RFC 9068 section 2.1


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    scope: str
    expires_in: int


class TokenIssuer:
    def __init__(
        self,
        store: Store,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        access_token_ttl_s: int,
        clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl_s = access_token_ttl_s
        self._clock = clock

    def access_token(self, *, client_id: str, sub: str, scope: str) -> IssuedToken:
        now = int(self._clock())
        exp = now + self._ttl_s
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": self._issuer,
            "sub": sub,
            "aud": self._audience,
            "client_id": client_id,
            "scope": scope,
            "iat": now,
            "exp": exp,
            "jti": jti,
        }
        token = self._keys.sign(claims, typ=ACCESS_TOKEN_TYP)
        # Recorded before it is handed out: a token the store does not know must never exist.
        self._store.add_token(
            jti=jti, kind="access", client_id=client_id, sub=sub, scope=scope, issued_at=now, expires_at=exp
        )
        return IssuedToken(token=token, jti=jti, scope=scope, expires_in=self._ttl_s)
