"""Forged tokens follow the genuine token's form: a JWT or an opaque string (RFC 6749 1.4)."""

from __future__ import annotations

import json

import jwt
import pytest

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


# --- the target's forgeries (harness/idp/forgery.py): the relying party refuses each; each lax check of a
# --- negative control lets its own forgery through and no other -------------------------------------

NOW = 1_900_000_000.0
ISSUER = "https://idp.test"
NONCE = "n-1"
LAX_FOR = {"wrong_aud": "skip_audience", "wrong_iss": "skip_issuer", "expired": "skip_expiry",
           "wrong_nonce": "skip_nonce", "alg_none": "accept_alg_none", "unknown_key": "trust_header_jwk",
           "jwks_key_swap": "refetch_on_bad_signature"}  # fmt: skip


class _Served:
    """The JWKS endpoint as the cache's Caller sees it: whatever `document` holds now."""

    def __init__(self, document: bytes):
        self.document, self.fetches = document, 0

    def call(self, *args: object, **kwargs: object) -> object:
        self.fetches += 1
        served = json.loads(self.document)

        class Result:
            ok, outcome = True, "ok"

            @staticmethod
            def json() -> object:
                return served

        return Result()


def _target_keys():
    from cryptography.hazmat.primitives.asymmetric import ec

    from harness.idp.keys import KeyRing, SigningKey, thumbprint_kid

    genuine, rogue = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ring = KeyRing(SigningKey(thumbprint_kid(genuine.public_key()), "ES256", genuine), [])
    ring = KeyRing(ring.signer, [ring.signer])
    return ring, SigningKey(thumbprint_kid(rogue.public_key()), "ES256", rogue)


def _forged(kind: str) -> tuple[str, str, _Served, object]:
    """(genuine token, forged token, the JWKS as served during the forgery, the cache) for `kind`."""
    from harness.clients.provider import Provider
    from harness.clients.relying_party import JwksCache
    from harness.idp.forgery import Forger, ForgeryRule

    ring, rogue = _target_keys()
    claims = {"iss": ISSUER, "aud": ISSUER, "sub": "u", "iat": int(NOW), "exp": int(NOW) + 600, "nonce": NONCE}
    genuine = ring.sign(claims, typ="JWT")
    forger = Forger({kind: ForgeryRule(1.0)}, ring, rogue)  # type: ignore[dict-item]
    forged = forger.sign("id", claims, typ="JWT")
    served = _Served(ring.jwks_json)
    provider = Provider("http://idp", "http://idp/.well-known", rebase=False, endpoints={"jwks": "http://idp/jwks"})
    cache = JwksCache(provider, served, "f", clock=lambda: NOW)  # type: ignore[arg-type]
    cache.refresh()  # the relying party knew the genuine keys before the fault
    served.document = forger.jwks_json  # and the JWKS as served while it is on
    return genuine, forged, served, cache


def _rp(cache: object, *lax: str) -> RelyingParty:
    return RelyingParty(cache, issuer=ISSUER, audience=ISSUER, clock=lambda: NOW,  # type: ignore[arg-type]
                        lax=frozenset(lax))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(LAX_FOR))
def test_a_correct_relying_party_refuses_each_forgery_and_keeps_accepting_genuine_tokens(kind: str) -> None:
    genuine, forged, _, cache = _forged(kind)
    rp = _rp(cache)
    assert rp.verify(genuine, nonce=NONCE).accepted
    verdict = rp.verify(forged, nonce=NONCE)
    assert not verdict.accepted, kind
    assert rp.verify(genuine, nonce=NONCE).accepted  # whatever it fetched meanwhile


@pytest.mark.parametrize("kind", sorted(LAX_FOR))
def test_each_lax_check_lets_its_own_forgery_through_and_no_other(kind: str) -> None:
    _, forged, _, cache = _forged(kind)
    assert _rp(cache, LAX_FOR[kind]).verify(forged, nonce=NONCE).accepted, f"{LAX_FOR[kind]} must let {kind} in"
    for other in sorted(set(LAX_FOR) - {kind}):
        _, other_forged, _, other_cache = _forged(other)
        assert not _rp(other_cache, LAX_FOR[kind]).verify(other_forged, nonce=NONCE).accepted, (kind, other)


def test_a_swapped_key_under_a_known_kid_is_not_believed_on_refetch() -> None:
    genuine, forged, served, cache = _forged("jwks_key_swap")
    assert cache.refresh() == "ok" and served.fetches == 2  # type: ignore[attr-defined]
    rp = _rp(cache)
    assert rp.verify(genuine).accepted and not rp.verify(forged).accepted
    cache.refresh(trust_changed_keys=True)  # type: ignore[attr-defined]
    assert not rp.verify(genuine).accepted and rp.verify(forged).accepted  # what the lax way gets
