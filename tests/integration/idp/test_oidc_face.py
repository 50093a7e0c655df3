"""The OIDC face through standard clients: Authlib's OAuth2Session for every grant, PyJWT for ID tokens
against the served JWKS, plain requests for userinfo, introspection, revocation and logout."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    PUBLIC_CLIENT_ID,
    REDIRECT,
    RESOURCE_SERVER_ID,
    RESOURCE_SERVER_SECRET,
    Target,
)

pytestmark = pytest.mark.integration
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def discovery(target: Target) -> dict[str, Any]:
    doc: dict[str, Any] = requests.get(f"{target.base}/.well-known/openid-configuration", timeout=5).json()
    return doc


def verify_id_token(target: Target, token: str, audience: str) -> dict[str, Any]:
    doc = discovery(target)
    key = jwt.PyJWKClient(doc["jwks_uri"]).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=doc["id_token_signing_alg_values_supported"], audience=audience,
        issuer=doc["issuer"],
    )
    return claims


def authorize(target: Target, session: OAuth2Session, **extra: str) -> tuple[str, str]:
    """Browser part of the code flow: the sign-in form, posted; returns (callback URL, code_verifier)."""
    verifier = "v-" + "x" * 60
    url, state = session.create_authorization_url(
        f"{target.base}/authorize", code_verifier=verifier, nonce="n-123", **extra
    )
    page = requests.get(url, timeout=5, allow_redirects=False)
    assert page.status_code == 200 and 'name="username"' in page.text
    fields = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    form = {**fields, "username": "user0003", "password": "pw-user0003"}
    response = requests.post(f"{target.base}/login", data=form, timeout=5, allow_redirects=False)
    assert response.status_code == 302, response.text
    callback = response.headers["location"]
    assert parse_qs(urlsplit(callback).query)["state"] == [state]
    return callback, verifier


def code_session(target: Target, client_id: str = PUBLIC_CLIENT_ID, secret: str | None = None) -> OAuth2Session:
    return OAuth2Session(
        client_id, secret, scope="openid profile email offline_access", redirect_uri="http://127.0.0.1:8765/callback",
        code_challenge_method="S256", token_endpoint_auth_method="none" if secret is None else "client_secret_basic",
    )


def test_discovery_has_what_a_real_op_publishes(target: Target) -> None:
    doc = discovery(target)
    assert doc["issuer"] == target.base
    assert doc["response_types_supported"] == ["code"]
    assert doc["end_session_endpoint"] == f"{target.base}/end_session"
    assert doc["device_authorization_endpoint"] == f"{target.base}/device_authorization"


def test_client_credentials_with_authlib(target: Target) -> None:
    session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope="api")
    token = session.fetch_token(f"{target.base}/token", grant_type="client_credentials")
    assert token["token_type"] == "Bearer" and token["scope"] == "api"
    assert "refresh_token" not in token and "id_token" not in token


@pytest.mark.parametrize("confidential", [False, True])
def test_authorization_code_pkce_with_id_token_userinfo_and_refresh(target: Target, confidential: bool) -> None:
    session = code_session(target, CLIENT_ID, CLIENT_SECRET) if confidential else code_session(target)
    callback, verifier = authorize(target, session)
    token = session.fetch_token(f"{target.base}/token", authorization_response=callback, code_verifier=verifier)
    response = requests.post(f"{target.base}/token", data={"grant_type": "refresh_token"}, timeout=5)
    assert response.headers["cache-control"] == "no-store"
    claims = verify_id_token(target, token["id_token"], session.client_id)
    assert claims["sub"] == "user0003" and claims["nonce"] == "n-123" and claims["email"] == "user0003@example.test"
    assert {"iss", "sub", "aud", "exp", "iat", "auth_time"} <= set(claims)
    info = session.get(f"{target.base}/userinfo").json()
    assert info == {"sub": "user0003", "email": "user0003@example.test", "email_verified": True,
                    "preferred_username": "user0003"}
    refreshed = session.refresh_token(f"{target.base}/token", refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"] and refreshed["access_token"]
    assert verify_id_token(target, refreshed["id_token"], session.client_id)["sub"] == "user0003"


def test_a_session_cookie_skips_the_login_form(target: Target) -> None:
    browser = requests.Session()
    session = code_session(target)
    url, _ = session.create_authorization_url(f"{target.base}/authorize", code_verifier="v" * 50)
    fields = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    response = browser.post(f"{target.base}/login", data={**fields, "username": "user0002",
                                                          "password": "pw-user0002"}, allow_redirects=False)
    assert response.status_code == 302 and "harness_session" in browser.cookies
    again = browser.get(url, allow_redirects=False)
    assert again.status_code == 302 and "code=" in again.headers["location"]
    # prompt=none without a session is login_required, as a redirect
    anonymous = requests.get(url + "&prompt=none", allow_redirects=False, timeout=5)
    assert anonymous.status_code == 302 and "error=login_required" in anonymous.headers["location"]


def test_device_grant_on_the_oidc_face(target: Target) -> None:
    auth = requests.post(f"{target.base}/device_authorization",
                         data={"client_id": PUBLIC_CLIENT_ID, "scope": "openid offline_access"}, timeout=5).json()
    assert {"device_code", "user_code", "verification_uri", "expires_in", "interval"} <= set(auth)
    poll = {"grant_type": DEVICE, "device_code": auth["device_code"], "client_id": PUBLIC_CLIENT_ID}
    pending = requests.post(f"{target.base}/token", data=poll, timeout=5)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    slow = requests.post(f"{target.base}/token", data=poll, timeout=5)
    assert slow.status_code == 400 and slow.json()["error"] == "slow_down"
    assert target.approve(auth["user_code"], username="user0004").status_code == 200
    target.chaos("PUT", "/device", {"interval_s": 0, "expires_in_s": 60})
    fresh = requests.post(f"{target.base}/device_authorization", data={"client_id": PUBLIC_CLIENT_ID}, timeout=5)
    code = fresh.json()
    assert target.approve(code["user_code"].lower().replace("-", ""), username="user0004").status_code == 200
    token = requests.post(f"{target.base}/token", timeout=5,
                          data={**poll, "device_code": code["device_code"]}).json()
    assert verify_id_token(target, token["id_token"], PUBLIC_CLIENT_ID)["sub"] == "user0004"


def test_introspection_and_revocation(target: Target) -> None:
    session = code_session(target, CLIENT_ID, CLIENT_SECRET)
    callback, verifier = authorize(target, session)
    token = session.fetch_token(f"{target.base}/token", authorization_response=callback, code_verifier=verifier)
    auth = (CLIENT_ID, CLIENT_SECRET)

    def introspect(value: str) -> dict[str, Any]:
        result: dict[str, Any] = requests.post(f"{target.base}/introspect", data={"token": value}, auth=auth,
                                               timeout=5).json()
        return result

    active = introspect(token["access_token"])
    assert active["active"] and active["sub"] == "user0003" and active["client_id"] == CLIENT_ID
    assert active["exp"] > time.time() and active["iss"] == target.base
    assert introspect(token["refresh_token"])["token_type"] == "refresh_token"
    assert introspect("nonsense") == {"active": False}
    revoked = requests.post(f"{target.base}/revoke", data={"token": token["refresh_token"],
                                                           "token_type_hint": "refresh_token"}, auth=auth, timeout=5)
    assert revoked.status_code == 200
    # Revoking the refresh token revoked its family, access token included.
    assert introspect(token["refresh_token"]) == {"active": False}
    assert introspect(token["access_token"]) == {"active": False}
    assert requests.post(f"{target.base}/revoke", data={"token": "unknown"}, auth=auth, timeout=5).status_code == 200


def test_introspection_answers_only_the_tokens_client_or_a_declared_resource_server(target: Target) -> None:
    session = code_session(target)  # the public client's login
    callback, verifier = authorize(target, session)
    token = session.fetch_token(f"{target.base}/token", authorization_response=callback, code_verifier=verifier)

    def introspect(value: str, auth: tuple[str, str]) -> dict[str, Any]:
        response = requests.post(f"{target.base}/introspect", data={"token": value}, auth=auth, timeout=5)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    # another registered client learns nothing about it, not even that it is live
    for value in (token["access_token"], token["refresh_token"]):
        assert introspect(value, (CLIENT_ID, CLIENT_SECRET)) == {"active": False}
    # the API the token is for (a declared resource server) may ask about access tokens, never refresh tokens
    api = (RESOURCE_SERVER_ID, RESOURCE_SERVER_SECRET)
    active = introspect(token["access_token"], api)
    assert active["active"] and active["client_id"] == PUBLIC_CLIENT_ID and active["sub"] == "user0003"
    assert introspect(token["refresh_token"], api) == {"active": False}
    # a resource server is no client: it gets no token of its own
    own = requests.post(f"{target.base}/token", data={"grant_type": "client_credentials"}, auth=api, timeout=5)
    assert own.status_code == 400 and own.json()["error"] == "unauthorized_client"


def test_rp_initiated_logout(target: Target) -> None:
    browser = requests.Session()
    session = code_session(target)
    url, _ = session.create_authorization_url(f"{target.base}/authorize", code_verifier="v" * 50, nonce="n")
    fields = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    response = browser.post(f"{target.base}/login", allow_redirects=False,
                            data={**fields, "username": "user0005", "password": "pw-user0005"})
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    token = session.fetch_token(f"{target.base}/token", code=code, code_verifier="v" * 50)
    out = browser.get(f"{target.base}/end_session", allow_redirects=False, params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:9999/callback",
        "state": "bye"})
    assert out.status_code == 302 and out.headers["location"] == "http://127.0.0.1:9999/callback?state=bye"
    again = browser.get(url, allow_redirects=False)
    assert again.status_code == 200  # the session is gone: the login form again
    bad = requests.get(f"{target.base}/end_session", timeout=5, params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    assert bad.status_code == 400
    assert REDIRECT.startswith("http://127.0.0.1")
