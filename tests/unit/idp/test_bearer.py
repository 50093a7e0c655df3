"""Defence in depth for access tokens: a token signed with our own key and naming a live stored jti is still
refused when its claims are not what we issued (issuer, audience, expiry, RFC 9068 `typ`, or the subject,
client and scope the store recorded). Each forgery is re-signed with the real private key, as someone who
stole it (or found a signing bug) would; the unchanged re-signed token is the control."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from starlette.testclient import TestClient

from harness.idp.config import TargetConfig

from .conftest import CLIENT_ID, CLIENT_SECRET, aws_login

Forgery = Callable[[dict[str, Any], dict[str, Any]], None]  # (header, claims) edited in place


def resign(config: TargetConfig, token: str, forge: Forgery) -> str:
    conn = sqlite3.connect(config.db_path)
    pem = conn.execute("SELECT private_pem FROM signing_keys WHERE alg = 'RS256' AND active = 1").fetchone()[0]
    conn.close()
    key = serialization.load_pem_private_key(pem, password=None)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    forge(header, claims)
    return jwt.encode(claims, key, algorithm="RS256", headers=header)  # type: ignore[arg-type]


def unchanged(header: dict[str, Any], claims: dict[str, Any]) -> None:
    pass


FORGERIES: dict[str, Forgery] = {
    "other_issuer": lambda h, c: c.update(iss="http://evil.test"),
    "other_audience": lambda h, c: c.update(aud="http://other-api.test"),
    "audience_list_without_ours": lambda h, c: c.update(aud=["http://other-api.test"]),
    "expired_claim": lambda h, c: c.update(exp=int(time.time()) - 5),
    "no_exp": lambda h, c: c.pop("exp"),
    "typ_jwt": lambda h, c: h.update(typ="JWT"),
    "no_typ": lambda h, c: h.pop("typ"),
    "other_subject": lambda h, c: c.update(sub="user0002"),
    "other_client": lambda h, c: c.update(client_id=CLIENT_ID),
    "wider_scope": lambda h, c: c.update(scope=c["scope"] + " admin"),
}


def portal_status(http: TestClient, token: str) -> int:
    return int(http.get("/assignment/accounts", headers={"x-amz-sso_bearer_token": token}).status_code)


def test_the_control_forgery_is_accepted(http: TestClient, config: TargetConfig) -> None:
    token = aws_login(http)["accessToken"]
    assert portal_status(http, resign(config, token, unchanged)) == 200


@pytest.mark.parametrize("name", list(FORGERIES))
def test_the_portal_refuses_a_forged_claim(http: TestClient, config: TargetConfig, name: str) -> None:
    token = aws_login(http)["accessToken"]
    assert portal_status(http, resign(config, token, FORGERIES[name])) == 401
    assert portal_status(http, token) == 200  # the genuine token still works


@pytest.mark.parametrize("name", ["other_issuer", "other_audience", "expired_claim", "typ_jwt", "wider_scope"])
def test_introspection_calls_a_forged_claim_inactive(http: TestClient, config: TargetConfig, name: str) -> None:
    auth = (CLIENT_ID, CLIENT_SECRET)
    token = http.post("/token", data={"grant_type": "client_credentials"}, auth=auth).json()["access_token"]
    assert http.post("/introspect", data={"token": resign(config, token, unchanged)}, auth=auth).json()["active"]
    forged = resign(config, token, FORGERIES[name])
    assert http.post("/introspect", data={"token": forged}, auth=auth).json() == {"active": False}
