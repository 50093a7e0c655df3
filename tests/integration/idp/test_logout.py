"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) ends the login session, also when the relying party
calls it from its server with only the id_token_hint (no browser cookie), and does to the session's tokens
what discovery says: the tokens of every login made in that session are revoked, except those granted
offline_access (OIDC Core 11: meant to outlive the user's session)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from .conftest import PUBLIC_CLIENT_ID, REDIRECT, Target, pkce_pair

pytestmark = pytest.mark.integration


def login(target: Target, browser: requests.Session, scope: str) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": PUBLIC_CLIENT_ID, "redirect_uri": REDIRECT, "scope": scope,
              "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"}
    response = browser.get(f"{target.base}/authorize", params=params, allow_redirects=False, timeout=5)
    if response.status_code == 200:  # no session yet: sign in
        response = browser.post(f"{target.base}/login", allow_redirects=False, timeout=5,
                                data={**params, "username": "user0006", "password": "pw-user0006"})
    assert response.status_code == 302, response.text
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    tokens: dict[str, Any] = requests.post(f"{target.base}/token", timeout=5, data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT,
        "client_id": PUBLIC_CLIENT_ID}).json()
    return tokens


def userinfo(target: Target, token: str) -> int:
    return requests.get(f"{target.base}/userinfo", headers={"Authorization": f"Bearer {token}"},
                        timeout=5).status_code


def refresh(target: Target, token: str) -> requests.Response:
    return requests.post(f"{target.base}/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": token, "client_id": PUBLIC_CLIENT_ID})


def test_discovery_says_what_logout_does_to_tokens(target: Target) -> None:
    doc = requests.get(f"{target.base}/.well-known/openid-configuration", timeout=5).json()
    assert doc["end_session_token_policy"] == "revoke_session_logins_except_offline_access"
    assert doc["frontchannel_logout_supported"] is False and doc["backchannel_logout_supported"] is False


def test_a_logout_with_only_the_hint_ends_the_session_and_revokes_its_logins(target: Target) -> None:
    browser = requests.Session()
    online = login(target, browser, "openid profile")
    offline = login(target, browser, "openid offline_access")  # the same session, no second sign-in
    sid = jwt.decode(online["id_token"], options={"verify_signature": False})["sid"]
    assert sid and jwt.decode(offline["id_token"], options={"verify_signature": False})["sid"] == sid
    # the relying party's server calls logout: no cookie, only the hint
    out = requests.get(f"{target.base}/end_session", params={"id_token_hint": online["id_token"]}, timeout=5)
    assert out.status_code == 200
    # the browser's session is over: the next login asks for the password again
    again = browser.get(f"{target.base}/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": PUBLIC_CLIENT_ID, "redirect_uri": REDIRECT,
        "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"})
    assert again.status_code == 200 and 'name="password"' in again.text
    # the session's ordinary login is revoked, access and refresh token alike
    assert userinfo(target, online["access_token"]) == 401
    assert refresh(target, online["refresh_token"]).json()["error"] == "invalid_grant"
    # offline access outlives the session
    assert userinfo(target, offline["access_token"]) == 200
    assert refresh(target, offline["refresh_token"]).status_code == 200


def test_a_logout_in_the_browser_ends_that_session_only(target: Target) -> None:
    mine, other = requests.Session(), requests.Session()
    tokens, others = login(target, mine, "openid"), login(target, other, "openid")
    out = mine.get(f"{target.base}/end_session", timeout=5)  # the cookie, no hint
    assert out.status_code == 200
    assert userinfo(target, tokens["access_token"]) == 401
    assert userinfo(target, others["access_token"]) == 200  # another browser's session is untouched
