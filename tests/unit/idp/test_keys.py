from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from harness.idp.keys import (
    KeyRing,
    generate_private_key,
    private_key_from_pem,
    private_key_to_pem,
    public_jwk,
    thumbprint_kid,
)
from harness.idp.store import Store

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(str(tmp_path / "k.sqlite3"))
    s.initialize()
    return s


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_signature_verifies_against_the_published_jwk(store: Store, alg: str) -> None:
    ring = KeyRing.load(store, alg)
    token = ring.sign({"sub": "x", "aud": "a"}, typ="at+jwt")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "kid": ring.signer.kid, "typ": "at+jwt"}
    jwk_set = jwt.PyJWKSet.from_dict(ring.jwks)
    key = next(k for k in jwk_set.keys if k.key_id == header["kid"])
    assert jwt.decode(token, key.key, algorithms=[alg], audience="a") == {"sub": "x", "aud": "a"}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_jwks_holds_public_members_only(store: Store, alg: str) -> None:
    ring = KeyRing.load(store, alg)
    (jwk,) = ring.jwks["keys"]
    assert jwk["kid"] == ring.signer.kid and jwk["use"] == "sig" and jwk["alg"] == alg
    assert jwk["kty"] == ("RSA" if alg == "RS256" else "EC")
    assert not PRIVATE_MEMBERS & set(jwk)
    assert ring.jwks_json.startswith(b'{"keys":[')


def test_rsa_keys_are_2048_bit() -> None:
    key = generate_private_key("RS256")
    assert key.key_size == 2048


def test_kid_is_the_rfc7638_thumbprint_and_survives_a_pem_round_trip() -> None:
    key = generate_private_key("ES256")
    again = private_key_from_pem(private_key_to_pem(key))
    assert thumbprint_kid(key.public_key()) == thumbprint_kid(again.public_key())
    assert len(thumbprint_kid(key.public_key())) == 43  # base64url of 32 bytes, no padding


def test_a_second_load_reuses_the_stored_key(store: Store) -> None:
    first = KeyRing.load(store, "RS256")
    second = KeyRing.load(store, "RS256")
    assert first.signer.kid == second.signer.kid
    assert first.jwks_json == second.jwks_json


def test_keys_of_other_algs_stay_published(store: Store) -> None:
    rs = KeyRing.load(store, "RS256")
    es = KeyRing.load(store, "ES256")
    assert es.signer.alg == "ES256"
    assert {k["kid"] for k in es.jwks["keys"]} == {rs.signer.kid, es.signer.kid}


def test_unknown_alg_is_refused() -> None:
    with pytest.raises(ValueError, match="HS256"):
        generate_private_key("HS256")


def test_public_jwk_of_ec_key_has_fixed_length_coordinates() -> None:
    jwk = public_jwk(generate_private_key("ES256").public_key(), kid="k", alg="ES256")
    assert jwk["crv"] == "P-256" and len(jwk["x"]) == len(jwk["y"]) == 43


def test_rotation_publishes_first_and_promotes_when_due(tmp_path: Path) -> None:
    from harness.idp.keys import rotate

    store = Store(str(tmp_path / "k.sqlite3"))
    store.initialize()
    old = KeyRing.load(store, "RS256").signer.kid
    new = rotate(store, "RS256", publish_lead_s=60, clock=lambda: 1000.0)
    ring = KeyRing.load(store, "RS256")
    assert ring.signer.kid == old and new in ring.by_kid
    assert not store.promote_due_keys(1059)
    assert store.promote_due_keys(1060)
    ring = KeyRing.load(store, "RS256", retention_s=100, clock=lambda: 1100.0)
    assert ring.signer.kid == new and old in ring.by_kid  # retired, still published
    assert old not in KeyRing.load(store, "RS256", retention_s=10, clock=lambda: 1100.0).by_kid
    store.close()
