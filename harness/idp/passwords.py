"""User passwords at rest: PBKDF2-HMAC-SHA256 (a standard KDF, hashlib only), compared in constant time.

The cost is modest on purpose (PBKDF2_ITERATIONS, about 0.7 ms per check here): the users are seeded
test identities with a published password rule, so the hash protects nothing secret, while every login
in a load test pays it and seeding 1,000 users must take a second, not minutes. A production IdP would
use 600,000 iterations or scrypt/argon2. The cost is stored in each hash, so raising it later keeps old
hashes readable. Unlike client secrets (credentials.py) human passwords are low-entropy, hence a KDF.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PBKDF2_ITERATIONS = 2000
_SCHEME = "pbkdf2_sha256"


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{_SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str | None) -> bool:
    try:
        scheme, iterations, salt, expected = (stored or _DUMMY_HASH).split("$")
        if scheme != _SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _unb64(salt), int(iterations))
    except (ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(digest, _unb64(expected)) and stored is not None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Checked against when the user is unknown, so that an unknown name costs as much as a wrong password.
_DUMMY_HASH = hash_password("no such user", salt=b"\0" * 16)
