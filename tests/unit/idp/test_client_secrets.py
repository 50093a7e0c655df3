"""An expired client secret (AWS RegisterClient's `clientSecretExpiresAt`) is refused everywhere the client
can present it, on both faces, and its registration no longer starts a login."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from harness.idp.config import TargetConfig

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
REDIRECT = "http://127.0.0.1/oauth/callback"


def register(http: TestClient) -> dict[str, Any]:
    response = http.post("/client/register", json={
        "clientName": "expiring", "clientType": "public", "redirectUris": [REDIRECT],
        "grantTypes": ["authorization_code", "refresh_token", DEVICE]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def expire(config: TargetConfig, client_id: str) -> None:
    conn = sqlite3.connect(config.db_path)
    conn.execute("UPDATE clients SET secret_expires_at = ? WHERE client_id = ?", (int(time.time()) - 1, client_id))
    conn.commit()
    conn.close()


@pytest.fixture
def expired(http: TestClient, config: TargetConfig) -> dict[str, Any]:
    client = register(http)
    expire(config, client["clientId"])
    return client


@pytest.mark.parametrize("path, form", [
    ("/token", {"grant_type": "refresh_token", "refresh_token": "rt.x"}),
    ("/token", {"grant_type": DEVICE, "device_code": "dc.x"}),
    ("/device_authorization", {"scope": "sso:account:access"}),
    ("/introspect", {"token": "x"}),
    ("/revoke", {"token": "x"}),
])
@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_the_oidc_face_refuses_an_expired_secret(
    http: TestClient, expired: dict[str, Any], path: str, form: dict[str, str], method: str
) -> None:
    ids = (expired["clientId"], expired["clientSecret"])
    if method == "client_secret_post":
        response = http.post(path, data={**form, "client_id": ids[0], "client_secret": ids[1]})
    else:
        response = http.post(path, data=form, auth=ids)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_the_aws_face_refuses_an_expired_secret(http: TestClient, expired: dict[str, Any]) -> None:
    ids = {"clientId": expired["clientId"], "clientSecret": expired["clientSecret"]}
    for path, body in (("/token", {**ids, "grantType": "refresh_token", "refreshToken": "rt.x"}),
                       ("/device_authorization", {**ids, "startUrl": "https://d-1.awsapps.com/start"})):
        response = http.post(path, json=body)
        assert response.status_code == 401, response.text
        assert response.headers["x-amzn-ErrorType"].startswith("InvalidClientException")


def test_an_expired_registration_starts_no_login(http: TestClient, expired: dict[str, Any]) -> None:
    response = http.get("/authorize", follow_redirects=False, params={
        "response_type": "code", "client_id": expired["clientId"], "redirect_uri": REDIRECT,
        "code_challenge": "x" * 43, "code_challenge_method": "S256", "state": "s"})
    assert response.status_code == 400 and "location" not in response.headers


def test_a_live_secret_still_works_on_the_oidc_face(http: TestClient) -> None:
    client = register(http)
    response = http.post("/device_authorization", auth=(client["clientId"], client["clientSecret"]),
                         data={"scope": "sso:account:access"})
    assert response.status_code == 200, response.text
