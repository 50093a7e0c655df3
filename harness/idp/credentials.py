"""Client secrets at rest: a SHA-256 hash, compared in constant time.

Not PBKDF2/bcrypt/argon2, on purpose: our client secrets are generated high-entropy random strings, for
which a fast hash is already infeasible to invert, while a slow KDF costs every token request tens of
milliseconds of CPU (glewlwyd, which does that, manages ~89 token req/s) and would turn every load test
into a KDF benchmark. Human passwords, if users get them later, need a slow KDF; client secrets do not.
"""

from __future__ import annotations

import hashlib
import hmac

# Compared against when the client is unknown, so that an unknown id costs as much as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"no such client").digest()


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def secret_matches(secret: str, stored_sha256: bytes | None) -> bool:
    expected = _DUMMY_HASH if stored_sha256 is None else stored_sha256
    return hmac.compare_digest(hash_secret(secret), expected) and stored_sha256 is not None
