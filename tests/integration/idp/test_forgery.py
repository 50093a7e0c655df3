"""The target misbehaving on purpose (harness/idp/forgery.py), through a real process and its chaos API:
each forgery breaks exactly the one thing it names, says so in the forged-token header, leaves the
target's own token checks refusing the token, and goes away when switched off. The rogue key is never
shown."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from harness.contract import FORGED_HEADER

from .conftest import CLIENT_ID, CLIENT_SECRET, RESOURCE_SERVER_ID, RESOURCE_SERVER_SECRET, Target
from .test_oidc_face import authorize, code_session, discovery

pytestmark = pytest.mark.integration


def access_token(target: Target) -> tuple[str, str]:
    """(token, forged-token header) of a client-credentials token response."""
    response = requests.post(f"{target.base}/token", data={"grant_type": "client_credentials", "scope": "api"},
                             auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"], response.headers.get(FORGED_HEADER, "")


def code_tokens(target: Target) -> tuple[dict[str, Any], str]:
    """The token response (and header) of an authorization-code login whose request carried nonce n-123."""
    session = code_session(target)
    callback, verifier = authorize(target, session)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = requests.post(f"{target.base}/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": session.redirect_uri,
        "code_verifier": verifier, "client_id": session.client_id})
    assert response.status_code == 200, response.text
    return response.json(), response.headers.get(FORGED_HEADER, "")


def header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return data


def claims(token: str) -> dict[str, Any]:
    data: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return data


def published(target: Target) -> dict[str, Any]:
    keys: list[dict[str, Any]] = requests.get(discovery(target)["jwks_uri"], timeout=5).json()["keys"]
    return {k["kid"]: k for k in keys}


def verifies(token: str, jwk: dict[str, Any]) -> bool:
    try:
        jwt.decode(token, jwt.PyJWK.from_dict(jwk).key, algorithms=[jwk["alg"]],
                   options={"verify_aud": False, "verify_exp": False})
    except jwt.PyJWTError:
        return False
    return True


def introspected_active(target: Target, token: str) -> bool:
    response = requests.post(f"{target.base}/introspect", data={"token": token},
                             auth=(RESOURCE_SERVER_ID, RESOURCE_SERVER_SECRET), timeout=10)
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def forge(target: Target, kind: str, **rule: Any) -> dict[str, Any]:
    response = target.chaos("PUT", "/forgery", {"kind": kind, "probability": 1, **rule})
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


@pytest.mark.parametrize("kind", ["wrong_aud", "wrong_iss", "expired", "unknown_key", "alg_none", "jwks_key_swap"])
def test_each_access_token_forgery_breaks_one_thing_says_so_and_the_target_refuses_it(target: Target,
                                                                                      kind: str) -> None:
    genuine, none = access_token(target)
    assert none == "" and introspected_active(target, genuine)
    keys_before = published(target)
    state = forge(target, kind)
    assert "rogue_pem" not in state and "PRIVATE KEY" not in json.dumps(state)
    token, said = access_token(target)
    assert said == f"access_token={kind}"
    assert not introspected_active(target, token), "the target's own checks must refuse its forgery"
    g, f = claims(genuine), claims(token)
    kid = header(genuine)["kid"]
    if kind == "wrong_aud":
        assert f["aud"] != g["aud"] and verifies(token, keys_before[kid])
    elif kind == "wrong_iss":
        assert f["iss"] != g["iss"] and verifies(token, keys_before[kid])
    elif kind == "expired":
        assert f["exp"] < g["iat"] - 3600 and verifies(token, keys_before[kid])
    elif kind == "alg_none":
        assert header(token)["alg"] == "none" and token.endswith(".")
    elif kind == "unknown_key":
        rogue = header(token)
        assert rogue["kid"] not in published(target) and not verifies(token, keys_before[kid])
        assert verifies(token, {**rogue["jwk"], "alg": rogue["alg"]}), "the embedded key is the signer"
    elif kind == "jwks_key_swap":
        assert header(token)["kid"] == kid and not verifies(token, keys_before[kid])
        swapped = published(target)[kid]
        assert swapped["n"] != keys_before[kid]["n"] and verifies(token, swapped)
    assert {k: v for k, v in f.items() if k not in ("aud", "iss", "exp", "iat", "jti")} == \
        {k: v for k, v in g.items() if k not in ("aud", "iss", "exp", "iat", "jti")}
    target.chaos("DELETE", f"/forgery?kind={kind}")
    after, none = access_token(target)
    assert none == "" and introspected_active(target, after)
    assert published(target)[kid] == keys_before[kid]


def test_wrong_nonce_forges_id_tokens_only(target: Target) -> None:
    forge(target, "wrong_nonce")
    body, said = code_tokens(target)
    assert said == "id_token=wrong_nonce"
    assert claims(body["id_token"])["nonce"] != "n-123"
    assert header(body["access_token"])["alg"] != "none" and introspected_active(target, body["access_token"])


def test_a_forgery_for_id_tokens_leaves_access_tokens_alone(target: Target) -> None:
    forge(target, "wrong_aud", tokens=["id"])
    body, said = code_tokens(target)
    assert said == "id_token=wrong_aud"
    assert claims(body["id_token"])["aud"] != code_session(target).client_id
    assert introspected_active(target, body["access_token"])


def test_half_the_tokens_at_probability_one_half(target: Target) -> None:
    forge(target, "wrong_iss", probability=0.5)
    said = [access_token(target)[1] for _ in range(60)]
    assert 10 < said.count("access_token=wrong_iss") < 50 and said.count("") == 60 - said.count(
        "access_token=wrong_iss")


@pytest.mark.parametrize("rule", [{"kind": "wrong_everything"}, {"kind": "wrong_aud", "probability": 2},
                                  {"kind": "wrong_aud", "tokens": []}, {"kind": "wrong_nonce", "tokens": ["access"]},
                                  {"kind": "wrong_aud", "probability": True}])
def test_bad_forgery_rules_are_400(target: Target, rule: dict[str, Any]) -> None:
    response = target.chaos("PUT", "/forgery", rule)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request", response.text
