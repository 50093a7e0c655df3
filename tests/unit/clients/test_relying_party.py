"""Forged tokens follow the genuine token's form: a JWT or an opaque string (RFC 6749 1.4)."""

from __future__ import annotations

import jwt

from harness.clients.relying_party import forgeries, is_jwt

JWT = jwt.encode({"sub": "svc", "exp": 2_000_000_000}, "k" * 32, algorithm="HS256", headers={"kid": "a"})
OPAQUE = "q3Vx9ZkT-7rLm2Pw_8sNcYd4HbJ0aEfGiUoWtSvXyR1"


def test_a_jwt_is_told_from_an_opaque_token() -> None:
    assert is_jwt(JWT)
    assert not is_jwt(OPAQUE)
    assert not is_jwt("a.b.c")  # three parts, no JSON header


def test_a_jwt_is_forged_with_a_bad_signature_and_alg_none() -> None:
    forged = dict(forgeries(JWT))
    assert set(forged) == {"forged", "alg_none"}
    assert forged["forged"] != JWT and forged["forged"].rsplit(".", 1)[0] == JWT.rsplit(".", 1)[0]
    assert jwt.get_unverified_header(forged["alg_none"])["alg"] == "none"


def test_an_opaque_token_is_forged_by_one_character() -> None:
    ((name, forged),) = forgeries(OPAQUE)
    assert name == "forged" and len(forged) == len(OPAQUE)
    assert sum(a != b for a, b in zip(forged, OPAQUE, strict=True)) == 1
