from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import jwt
import pytest
from starlette.testclient import TestClient

from harness.idp.app import create_app
from harness.idp.config import TargetConfig
from harness.idp.directory import seed_client
from harness.idp.store import Store

from .conftest import CLIENT_ID, CLIENT_SECRET, ISSUER, NO_GRANT_CLIENT_ID, seed

CC = {"grant_type": "client_credentials"}


def verify(http: TestClient, token: str) -> dict[str, Any]:
    """Verify `token` the way a resource server would: key from the served JWKS, iss, aud, exp."""
    jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
    header = jwt.get_unverified_header(token)
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[header["alg"]],
        audience=ISSUER,
        issuer=ISSUER,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
    )
    return claims


def audit_lines(config: TargetConfig) -> list[dict[str, Any]]:
    assert config.audit_log is not None
    text = Path(config.audit_log).read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_basic_auth_returns_a_bearer_jwt_that_verifies(http: TestClient) -> None:
    response = http.post("/token", data=CC, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile api"
    assert body["expires_in"] == 3600
    claims = verify(http, body["access_token"])
    assert claims["sub"] == claims["client_id"] == CLIENT_ID
    assert claims["scope"] == "openid profile api"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"


def test_client_secret_post_works_too(http: TestClient) -> None:
    form = {**CC, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": "api"}
    response = http.post("/token", data=form)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "api"
    assert verify(http, response.json()["access_token"])["scope"] == "api"


def test_basic_credentials_are_form_urlencoded_per_rfc6749(config: TargetConfig) -> None:
    seed(config)
    store = Store(config.db_path)
    seed_client(store, "id:with space", "se:cr+et/=")
    store.close()
    pair = f"{quote_plus('id:with space')}:{quote_plus('se:cr+et/=')}"
    header = "Basic " + base64.b64encode(pair.encode()).decode()
    with TestClient(create_app(config), base_url=ISSUER) as http:
        response = http.post("/token", data=CC, headers={"Authorization": header})
    assert response.status_code == 200, response.text


def test_issued_token_is_recorded_and_audited_without_its_value(
    http: TestClient, config: TargetConfig
) -> None:
    token = http.post("/token", data=CC, auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    store = Store(config.db_path)
    record = store.get_token(jti)
    store.close()
    assert record is not None and record.client_id == CLIENT_ID and not record.revoked
    http.app.state.services.audit.flush()  # type: ignore[attr-defined]
    (event,) = audit_lines(config)
    assert event["event"] == "token_issued"
    assert (event["client_id"], event["jti"], event["scope"]) == (CLIENT_ID, jti, "openid profile api")
    raw = Path(str(config.audit_log)).read_text()
    assert token not in raw and CLIENT_SECRET not in raw


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"auth": (CLIENT_ID, "wrong")}, id="wrong-secret-basic"),
        pytest.param({"auth": ("nobody", CLIENT_SECRET)}, id="unknown-client"),
        pytest.param({"extra": {"client_id": CLIENT_ID, "client_secret": "wrong"}}, id="wrong-secret-post"),
        pytest.param({}, id="no-credentials"),
        pytest.param({"extra": {"client_id": CLIENT_ID}}, id="no-secret"),
        pytest.param({"headers": {"Authorization": "Basic !!notbase64"}}, id="malformed-basic"),
        pytest.param({"headers": {"Authorization": "Bearer abc"}}, id="other-scheme"),
    ],
)
def test_bad_client_credentials_are_401_invalid_client(
    http: TestClient, config: TargetConfig, kwargs: dict[str, Any]
) -> None:
    data = {**CC, **kwargs.get("extra", {})}
    response = http.post("/token", data=data, auth=kwargs.get("auth"), headers=kwargs.get("headers"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    assert response.headers["cache-control"] == "no-store"
    http.app.state.services.audit.flush()  # type: ignore[attr-defined]
    (event,) = audit_lines(config)
    assert event["event"] == "client_auth_failed" and event["reason"]
    assert "wrong" not in Path(str(config.audit_log)).read_text()


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        ({"grant_type": "password"}, True, 400, "unsupported_grant_type"),
        ({}, True, 400, "invalid_request"),
        ({**CC, "scope": "api admin"}, True, 400, "invalid_scope"),
        ({**CC, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, True, 400, "invalid_request"),
    ],
    ids=["unsupported-grant", "missing-grant", "scope-not-allowed", "two-auth-methods"],
)
def test_request_errors_are_rfc6749_json(
    http: TestClient, form: dict[str, str], auth: bool, status: int, error: str
) -> None:
    response = http.post("/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET) if auth else None)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert response.headers["content-type"] == "application/json"


def test_client_without_the_grant_is_unauthorized_client(http: TestClient) -> None:
    response = http.post("/token", data=CC, auth=(NO_GRANT_CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_repeated_parameter_is_invalid_request(http: TestClient) -> None:
    response = http.post(
        "/token",
        content="grant_type=client_credentials&scope=api&scope=openid",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_json_body_goes_to_the_aws_face(http: TestClient) -> None:
    response = http.post("/token", json={"grantType": "client_credentials"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
    assert response.headers["x-amzn-errortype"].startswith("UnsupportedGrantTypeException:")


def test_token_endpoint_is_post_only(http: TestClient) -> None:
    assert http.get("/token").status_code == 405


def test_es256_tokens_verify_against_the_es256_jwks(config: TargetConfig) -> None:
    config = replace(config, signing_alg="ES256")
    seed(config)
    with TestClient(create_app(config), base_url=ISSUER) as http:
        token = http.post("/token", data=CC, auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
        assert jwt.get_unverified_header(token)["alg"] == "ES256"
        assert verify(http, token)["client_id"] == CLIENT_ID


def test_restart_on_the_same_db_keeps_the_key(config: TargetConfig) -> None:
    seed(config)
    kids = []
    for _ in range(2):
        with TestClient(create_app(config), base_url=ISSUER) as http:
            kids.append(http.get("/.well-known/jwks.json").json()["keys"][0]["kid"])
    assert kids[0] == kids[1]
