from __future__ import annotations

from starlette.testclient import TestClient

from .conftest import ISSUER


def test_discovery_urls_come_from_the_issuer(http: TestClient) -> None:
    response = http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"] == f"{ISSUER}/token"
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert doc["grant_types_supported"] == [
        "authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"
    ]
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    for name in ("authorization", "device_authorization", "userinfo", "introspection", "revocation", "end_session"):
        assert doc[f"{name}_endpoint"].startswith(ISSUER + "/")
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["public"]
    assert "response_types_supported" in doc
    assert {"openid", "api"} <= set(doc["scopes_supported"])


def test_jwks_serves_an_rs256_and_an_es256_key(http: TestClient) -> None:
    response = http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    keys = response.json()["keys"]
    assert sorted(k["alg"] for k in keys) == ["ES256", "RS256"]
    for key in keys:
        assert key["use"] == "sig" and key["kid"]
        assert "d" not in key


def test_healthz(http: TestClient) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
