"""Signing keys: generation, PEM round trip, JWK form with RFC 7638 thumbprint kids, and the per-process
key ring that signs tokens and serves the JWKS.

Key objects are parsed once per process (PEM parsing and RSA key validation cost milliseconds; a token
signature must not), and the JWKS document is serialized once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.idp.store import KeyRecord, Store

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

SUPPORTED_ALGS: tuple[str, ...] = ("RS256", "ES256")
RSA_KEY_BITS = 2048


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported signing algorithm {alg!r} (expected one of {', '.join(SUPPORTED_ALGS)})")


def private_key_to_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_pem(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}")
    return key


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_fixed(value: int, size: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode("ascii")


def public_jwk_members(key: PublicKey) -> dict[str, str]:
    """The members that define the public key (and its RFC 7638 thumbprint)."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    if isinstance(key.curve, ec.SECP256R1):
        point = key.public_numbers()
        return {"crv": "P-256", "kty": "EC", "x": _b64url_fixed(point.x, 32), "y": _b64url_fixed(point.y, 32)}
    raise ValueError(f"unsupported curve {key.curve.name}")


def thumbprint_kid(key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256): a kid that anyone holding the public key can recompute."""
    canonical = json.dumps(public_jwk_members(key), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def public_jwk(key: PublicKey, *, kid: str, alg: str) -> dict[str, str]:
    return {**public_jwk_members(key), "kid": kid, "use": "sig", "alg": alg}


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey

    @classmethod
    def from_record(cls, record: KeyRecord) -> SigningKey:
        return cls(kid=record.kid, alg=record.alg, private_key=private_key_from_pem(record.private_pem))

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key.public_key(), kid=self.kid, alg=self.alg)


class KeyRing:
    """The keys one process signs with and publishes, loaded once from the store (and again after a
    rotation: the app swaps in a new ring, it never mutates one)."""

    def __init__(self, signer: SigningKey, published: Sequence[SigningKey]):
        self.signer = signer
        self.published = tuple(published)
        self.by_kid = {k.kid: k for k in self.published}
        self.jwks = {"keys": [k.public_jwk for k in self.published]}
        self.jwks_json = json.dumps(self.jwks, separators=(",", ":")).encode("ascii")

    @classmethod
    def load(
        cls,
        store: Store,
        alg: str,
        *,
        clock: Callable[[], float] = time.time,
        retention_s: int | None = None,
        also: Sequence[str] = (),
    ) -> KeyRing:
        """Load the active key for `alg`, creating it first if the store has none.

        Several processes may run this at once on a new database: each generates a candidate, one insert
        wins (see the unique index in store.py), and every process then signs with the winner. `also` names
        other algorithms whose keys must exist (published, not signing); a key retired more than
        `retention_s` ago is no longer published (every token it signed has expired).
        """
        record = ensure_active_key(store, alg, clock=clock)
        for other in also:
            ensure_active_key(store, other, clock=clock)
        signer = SigningKey.from_record(record)
        since = None if retention_s is None else int(clock()) - retention_s
        others = [
            SigningKey.from_record(r) for r in store.published_keys(retired_since=since) if r.kid != signer.kid
        ]
        return cls(signer, [signer, *others])

    def public_key(self, kid: str) -> tuple[PublicKey, str] | None:
        """The public key and algorithm published under `kid`, if any."""
        key = self.by_kid.get(kid)
        return None if key is None else (key.private_key.public_key(), key.alg)

    def sign(self, claims: Mapping[str, Any], *, typ: str) -> str:
        return jwt.encode(
            dict(claims),
            self.signer.private_key,
            algorithm=self.signer.alg,
            headers={"kid": self.signer.kid, "typ": typ},
        )


def ensure_active_key(store: Store, alg: str, *, clock: Callable[[], float] = time.time) -> KeyRecord:
    record = store.active_key(alg)
    if record is None:
        candidate = generate_private_key(alg)
        record = store.add_key_if_no_active(
            kid=thumbprint_kid(candidate.public_key()),
            alg=alg,
            private_pem=private_key_to_pem(candidate),
            now=int(clock()),
        )
    return record


def rotate(store: Store, alg: str, *, publish_lead_s: int, clock: Callable[[], float] = time.time) -> str:
    """Start a rotation: publish a new key now that signs after `publish_lead_s` (0: at the next reload,
    which every worker does within its control poll interval). Returns the new kid."""
    candidate = generate_private_key(alg)
    kid = thumbprint_kid(candidate.public_key())
    now = int(clock())
    store.add_pending_key(
        kid=kid, alg=alg, private_pem=private_key_to_pem(candidate), now=now, activates_at=now + publish_lead_s
    )
    if publish_lead_s <= 0:
        store.promote_due_keys(now)
    else:
        store.bump_generation()
    return kid
