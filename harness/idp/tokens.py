"""Minting tokens: RFC 9068 JWT access tokens (recorded in the store so that introspection, revocation
and the harness's fail-closed checks can ask about any token by its jti later) and OIDC ID tokens.

`skew_s` (set by the chaos API) shifts the iat/exp claims of issued JWTs, to show what verifiers do with
a provider whose clock is wrong; the store keeps true times, so the target itself is not fooled. While a
forgery is on (chaos API, forgery.py), `forger` signs instead of the key ring and forges a share of the
tokens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.idp.bearer import ACCESS_TOKEN_TYP, ID_TOKEN_TYP
from harness.idp.forgery import Forger
from harness.idp.keys import KeyRing
from harness.idp.store import Store


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
        self.skew_s = 0
        self.forger: Forger | None = None

    @property
    def keys(self) -> KeyRing:
        return self._keys

    @keys.setter
    def keys(self, ring: KeyRing) -> None:
        self._keys = ring

    def access_token(self, *, client_id: str, sub: str, scope: str, family: str | None = None) -> IssuedToken:
        now = int(self._clock())
        exp = now + self._ttl_s
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": self._issuer,
            "sub": sub,
            "aud": self._audience,
            "client_id": client_id,
            "scope": scope,
            "iat": now + self.skew_s,
            "exp": exp + self.skew_s,
            "jti": jti,
        }
        forger = self.forger
        token = forger.sign("access", claims, typ=ACCESS_TOKEN_TYP) if forger else self._keys.sign(
            claims, typ=ACCESS_TOKEN_TYP)
        # Recorded before it is handed out: a token the store does not know must never exist.
        self._store.add_token(
            jti=jti,
            kind="access",
            client_id=client_id,
            sub=sub,
            scope=scope,
            issued_at=now,
            expires_at=exp,
            family=family,
        )
        return IssuedToken(token=token, jti=jti, scope=scope, expires_in=self._ttl_s)

    def id_token(
        self, *, client_id: str, sub: str, ttl_s: int, auth_time: int, nonce: str | None, extra: dict[str, Any]
    ) -> str:
        """An OIDC ID token (Core section 2); not stored: it authorizes nothing."""
        now = int(self._clock()) + self.skew_s
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "sub": sub,
            "aud": client_id,
            "iat": now,
            "exp": now + ttl_s,
            "auth_time": auth_time,
            **extra,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        forger = self.forger
        return forger.sign("id", claims, typ=ID_TOKEN_TYP) if forger else self._keys.sign(claims, typ=ID_TOKEN_TYP)
