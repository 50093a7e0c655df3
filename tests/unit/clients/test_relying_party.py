"""Forged tokens follow the genuine token's form: a JWT or an opaque string (RFC 6749 1.4)."""

from __future__ import annotations

import json

import jwt

from harness.clients.relying_party import LEEWAY_S, RelyingParty, forgeries, is_jwt

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


# --- clock leeway: what a validator with and without it does with a token just past its exp ------------


class _OneKey:
    def __init__(self, jwk: jwt.PyJWK):
        self.jwk = jwk

    def key(self, kid: str):
        return (self.jwk, "ok") if kid == self.jwk.key_id else (None, "ok")


def _signed(now: float, exp_in_s: float) -> tuple[str, _OneKey]:
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    public = jwt.PyJWK.from_dict({**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key())),
                                  "kid": "k1", "alg": "ES256"})  # fmt: skip
    token = jwt.encode({"iss": "https://idp", "sub": "u", "exp": now + exp_in_s, "iat": now - 3600}, private,
                       algorithm="ES256", headers={"kid": "k1"})  # fmt: skip
    return token, _OneKey(public)


def test_leeway_accepts_a_token_just_expired_and_no_leeway_refuses_it() -> None:
    now = 1_900_000_000.0
    token, keys = _signed(now, exp_in_s=-20)  # the IdP's clock 20 s behind: exp already passed here
    lenient = RelyingParty(keys, issuer="https://idp", audience=None, clock=lambda: now)  # type: ignore[arg-type]
    strict = RelyingParty(keys, issuer="https://idp", audience=None, clock=lambda: now, leeway_s=0)  # type: ignore[arg-type]
    assert lenient.leeway_s == LEEWAY_S == 30.0 and lenient.verify(token).accepted
    verdict = strict.verify(token)
    assert not verdict.accepted and verdict.reason == "expired"
    far, keys = _signed(now, exp_in_s=-100)  # beyond any leeway: both refuse
    assert RelyingParty(keys, issuer="https://idp", audience=None, clock=lambda: now).verify(far).reason == "expired"  # type: ignore[arg-type]
