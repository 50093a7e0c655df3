"""Negative security suite: every case is an attack or a mistake the target must refuse, with the
protocol's error and never a token, a 500 or a stack trace."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from .conftest import ADMIN_TOKEN, CLIENT_ID, CLIENT_SECRET, PUBLIC_CLIENT_ID, START_URL, Target, pkce_pair

pytestmark = pytest.mark.integration
CALLBACK = "http://127.0.0.1:7000/callback"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def code_for(target: Target, client_id: str = PUBLIC_CLIENT_ID, challenge: str | None = None) -> tuple[str, str]:
    verifier, computed = pkce_pair()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK, "scope": "openid",
              "code_challenge": challenge or computed, "code_challenge_method": "S256", "state": "s"}
    return target.login_code(params)["code"], verifier


def exchange(target: Target, code: str, verifier: str, *, client_id: str = PUBLIC_CLIENT_ID,
             redirect_uri: str = CALLBACK, auth: tuple[str, str] | None = None) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": redirect_uri}
    if auth is None:
        data["client_id"] = client_id
    return requests.post(f"{target.base}/token", data=data, auth=auth, timeout=5)


def user_tokens(target: Target) -> dict[str, Any]:
    code, verifier = code_for(target)
    response = exchange(target, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def cc_token(target: Target) -> str:
    response = requests.post(f"{target.base}/token", data={"grant_type": "client_credentials"},
                             auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    token: str = response.json()["access_token"]
    return token


def userinfo(target: Target, token: str) -> requests.Response:
    return requests.get(f"{target.base}/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def portal(target: Target, token: str) -> requests.Response:
    return requests.get(f"{target.base}/assignment/accounts", headers={"x-amz-sso_bearer_token": token}, timeout=5)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def real_private_key(target: Target) -> tuple[Any, str]:
    conn = sqlite3.connect(target.db)
    kid, pem = conn.execute("SELECT kid, private_pem FROM signing_keys WHERE alg='RS256' AND active=1").fetchone()
    conn.close()
    return serialization.load_pem_private_key(pem, password=None), kid


# -- the cases: each returns the response that must be a refusal, and the status it must have -------------

def bad_signature(t: Target) -> tuple[requests.Response, int]:
    token = user_tokens(t)["access_token"]
    head, body, sig = token.split(".")
    return userinfo(t, f"{head}.{body}.{sig[:-6]}AAAAAA"), 401


def alg_none(t: Target) -> tuple[requests.Response, int]:
    claims = jwt.decode(user_tokens(t)["access_token"], options={"verify_signature": False})
    kid = jwt.get_unverified_header(user_tokens(t)["access_token"])["kid"]
    return userinfo(t, f"{b64({'alg': 'none', 'kid': kid})}.{b64(claims)}."), 401


def hs256_with_public_key(t: Target) -> tuple[requests.Response, int]:
    token = user_tokens(t)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    jwks = requests.get(f"{t.base}/.well-known/jwks.json", timeout=5).content
    signing_input = f"{b64({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'})}.{b64(claims)}"
    mac = hmac.new(jwks, signing_input.encode(), hashlib.sha256).digest()  # PyJWT refuses to build this
    forged = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    return userinfo(t, forged), 401


def unknown_kid(t: Target) -> tuple[requests.Response, int]:
    key, _ = real_private_key(t)
    claims = jwt.decode(user_tokens(t)["access_token"], options={"verify_signature": False})
    return userinfo(t, jwt.encode(claims, key, algorithm="RS256", headers={"kid": "not-ours"})), 401


def signed_but_never_issued(t: Target) -> tuple[requests.Response, int]:
    key, kid = real_private_key(t)
    claims = {**jwt.decode(user_tokens(t)["access_token"], options={"verify_signature": False}), "jti": "forged"}
    return userinfo(t, jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})), 401


def expired(t: Target) -> tuple[requests.Response, int]:
    token = user_tokens(t)["access_token"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    conn = sqlite3.connect(t.db)
    conn.execute("UPDATE tokens SET expires_at = ? WHERE jti = ?", (int(time.time()) - 1, jti))
    conn.commit()
    conn.close()
    return userinfo(t, token), 401


def id_token_as_access_token(t: Target) -> tuple[requests.Response, int]:
    return userinfo(t, user_tokens(t)["id_token"]), 401


def revoked_access_token(t: Target) -> tuple[requests.Response, int]:
    token = user_tokens(t)["access_token"]
    requests.post(f"{t.base}/revoke", data={"token": token, "client_id": PUBLIC_CLIENT_ID}, timeout=5)
    return portal(t, token), 401


def client_credentials_token_on_portal(t: Target) -> tuple[requests.Response, int]:
    return portal(t, cc_token(t)), 401


def openid_user_token_on_portal(t: Target) -> tuple[requests.Response, int]:
    return portal(t, user_tokens(t)["access_token"]), 401  # a user's token, but not for the portal


def client_credentials_token_at_userinfo(t: Target) -> tuple[requests.Response, int]:
    return userinfo(t, cc_token(t)), 401


def token_in_query_not_header(t: Target) -> tuple[requests.Response, int]:
    token = user_tokens(t)["access_token"]
    return requests.get(f"{t.base}/userinfo", params={"access_token": token}, timeout=5), 401


def pkce_mismatch(t: Target) -> tuple[requests.Response, int]:
    code, _ = code_for(t)
    return exchange(t, code, pkce_pair()[0]), 400


def code_replay(t: Target) -> tuple[requests.Response, int]:
    code, verifier = code_for(t)
    first = exchange(t, code, verifier).json()
    replay = exchange(t, code, verifier)
    assert userinfo(t, first["access_token"]).status_code == 401  # the replay revoked what the code gave
    return replay, 400


def code_with_other_redirect_uri(t: Target) -> tuple[requests.Response, int]:
    code, verifier = code_for(t)
    return exchange(t, code, verifier, redirect_uri="http://127.0.0.1:7001/callback"), 400


def code_redeemed_by_other_client(t: Target) -> tuple[requests.Response, int]:
    code, verifier = code_for(t)
    return exchange(t, code, verifier, auth=(CLIENT_ID, CLIENT_SECRET)), 400


def refresh_reuse(t: Target) -> tuple[requests.Response, int]:
    rt = user_tokens(t)["refresh_token"]
    data = {"grant_type": "refresh_token", "refresh_token": rt, "client_id": PUBLIC_CLIENT_ID}
    assert requests.post(f"{t.base}/token", data=data, timeout=5).status_code == 200
    return requests.post(f"{t.base}/token", data=data, timeout=5), 400


def refresh_by_other_client(t: Target) -> tuple[requests.Response, int]:
    rt = user_tokens(t)["refresh_token"]
    return requests.post(f"{t.base}/token", data={"grant_type": "refresh_token", "refresh_token": rt},
                         auth=(CLIENT_ID, CLIENT_SECRET), timeout=5), 400


def refresh_scope_escalation(t: Target) -> tuple[requests.Response, int]:
    rt = user_tokens(t)["refresh_token"]
    return requests.post(f"{t.base}/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": rt, "client_id": PUBLIC_CLIENT_ID, "scope": "openid api"}), 400


def unregistered_redirect_uri(t: Target) -> tuple[requests.Response, int]:
    return requests.get(f"{t.base}/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": PUBLIC_CLIENT_ID, "redirect_uri": "https://evil.example/cb",
        "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}), 400


def loopback_redirect_with_other_path(t: Target) -> tuple[requests.Response, int]:
    return requests.get(f"{t.base}/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": PUBLIC_CLIENT_ID, "redirect_uri": "http://127.0.0.1:7000/evil",
        "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"}), 400


def unknown_client_at_authorize(t: Target) -> tuple[requests.Response, int]:
    return requests.get(f"{t.base}/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": "nobody", "redirect_uri": CALLBACK}), 400


def _authorize_error(t: Target, **params: str) -> tuple[requests.Response, int]:
    base = {"response_type": "code", "client_id": PUBLIC_CLIENT_ID, "redirect_uri": CALLBACK, "state": "s"}
    response = requests.get(f"{t.base}/authorize", params={**base, **params}, allow_redirects=False, timeout=5)
    assert "error=" in response.headers.get("location", "") and "code=" not in response.headers["location"]
    return response, 302


def missing_pkce(t: Target) -> tuple[requests.Response, int]:
    return _authorize_error(t)


def plain_pkce(t: Target) -> tuple[requests.Response, int]:
    return _authorize_error(t, code_challenge="x" * 43, code_challenge_method="plain")


def implicit_response_type(t: Target) -> tuple[requests.Response, int]:
    return _authorize_error(t, response_type="token", code_challenge=pkce_pair()[1], code_challenge_method="S256")


def wrong_client_secret(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data={"grant_type": "client_credentials"},
                         auth=(CLIENT_ID, "wrong"), timeout=5), 401


def unknown_client(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data={"grant_type": "client_credentials"},
                         auth=("nobody", "x"), timeout=5), 401


def public_client_credentials(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data={"grant_type": "client_credentials", "client_id": PUBLIC_CLIENT_ID},
                         timeout=5), 401


def two_auth_methods(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data={"grant_type": "client_credentials", "client_secret": CLIENT_SECRET},
                         auth=(CLIENT_ID, CLIENT_SECRET), timeout=5), 400


def unsupported_grant(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data={"grant_type": "password", "username": "user0001",
                                                   "password": "pw-user0001"}, auth=(CLIENT_ID, CLIENT_SECRET),
                         timeout=5), 400


def repeated_parameter(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data="grant_type=client_credentials&grant_type=client_credentials",
                         headers={"Content-Type": "application/x-www-form-urlencoded"},
                         auth=(CLIENT_ID, CLIENT_SECRET), timeout=5), 400


def oversized_body(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data={"grant_type": "client_credentials", "pad": "x" * 40000},
                         auth=(CLIENT_ID, CLIENT_SECRET), timeout=5), 413


def wrong_content_type(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/token", data=b"grant_type=client_credentials",
                         headers={"Content-Type": "text/plain"}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5), 400


def wrong_password(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/login", data={"username": "user0001", "password": "pw-user0002"}, timeout=5), 401


def unknown_user(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/login", data={"username": "mallory", "password": "pw-mallory"}, timeout=5), 401


def device_approval_wrong_password(t: Target) -> tuple[requests.Response, int]:
    auth = requests.post(f"{t.base}/device_authorization", data={"client_id": PUBLIC_CLIENT_ID}, timeout=5).json()
    return requests.post(f"{t.base}/device", timeout=5, data={
        "user_code": auth["user_code"], "username": "user0001", "password": "nope", "approve": "yes"}), 400


def unknown_user_code(t: Target) -> tuple[requests.Response, int]:
    return t.approve("BBBB-CCCC"), 400


def device_code_of_other_client(t: Target) -> tuple[requests.Response, int]:
    auth = requests.post(f"{t.base}/device_authorization", data={"client_id": PUBLIC_CLIENT_ID}, timeout=5).json()
    t.approve(auth["user_code"])
    return requests.post(f"{t.base}/token", data={"grant_type": DEVICE, "device_code": auth["device_code"]},
                         auth=(CLIENT_ID, CLIENT_SECRET), timeout=5), 400


def aws_device_code_of_other_client(t: Target) -> tuple[requests.Response, int]:
    oidc = t.sso_oidc()
    a = oidc.register_client(clientName="a", clientType="public")
    b = oidc.register_client(clientName="b", clientType="public")
    auth = oidc.start_device_authorization(clientId=a["clientId"], clientSecret=a["clientSecret"], startUrl=START_URL)
    t.approve(auth["userCode"])
    return requests.post(f"{t.base}/token", timeout=5, json={
        "clientId": b["clientId"], "clientSecret": b["clientSecret"], "grantType": DEVICE,
        "deviceCode": auth["deviceCode"]}), 400


def introspection_by_public_client(t: Target) -> tuple[requests.Response, int]:
    token = user_tokens(t)["access_token"]
    return requests.post(f"{t.base}/introspect", data={"token": token, "client_id": PUBLIC_CLIENT_ID}, timeout=5), 401


def introspection_without_auth(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/introspect", data={"token": "x"}, timeout=5), 401


def revoking_someone_elses_token(t: Target) -> tuple[requests.Response, int]:
    token = user_tokens(t)["access_token"]
    requests.post(f"{t.base}/revoke", data={"token": token}, auth=(CLIENT_ID, CLIENT_SECRET), timeout=5)
    assert userinfo(t, token).status_code == 200  # still valid: only its own client may revoke it
    return requests.post(f"{t.base}/revoke", data={"token": token}, auth=(CLIENT_ID, "wrong"), timeout=5), 401


def chaos_without_token(t: Target) -> tuple[requests.Response, int]:
    return requests.post(f"{t.base}/chaos/keys/rotate", json={}, timeout=5), 401


def chaos_with_wrong_token(t: Target) -> tuple[requests.Response, int]:
    return requests.put(f"{t.base}/chaos/clock_skew", json={"skew_s": 60}, timeout=5,
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"}), 401


def _self_registered(t: Target, redirect: str) -> str:
    client = t.sso_oidc().register_client(clientName="x", clientType="public", grantTypes=["authorization_code"],
                                          redirectUris=[redirect])
    client_id: str = client["clientId"]
    return client_id


def error_for_self_registered_client_not_redirected(t: Target) -> tuple[requests.Response, int]:
    # anyone can register https://attacker.example/...: redirecting errors there makes us an open redirector
    client_id = _self_registered(t, "https://attacker.example/landing")
    return requests.get(f"{t.base}/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "token", "client_id": client_id, "redirect_uri": "https://attacker.example/landing"}), 400


def prompt_none_for_self_registered_client_not_redirected(t: Target) -> tuple[requests.Response, int]:
    client_id = _self_registered(t, "https://attacker.example/landing")
    return requests.get(f"{t.base}/authorize", allow_redirects=False, timeout=5, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": "https://attacker.example/landing",
        "code_challenge": pkce_pair()[1], "code_challenge_method": "S256", "prompt": "none"}), 400


def logout_redirect_without_id_token_hint(t: Target) -> tuple[requests.Response, int]:
    # a registered URI is not enough: without a hint anyone could bounce users through our logout
    return requests.get(f"{t.base}/end_session", timeout=5, allow_redirects=False, params={
        "client_id": PUBLIC_CLIENT_ID, "post_logout_redirect_uri": CALLBACK}), 400


def logout_hint_of_another_client(t: Target) -> tuple[requests.Response, int]:
    client_id = _self_registered(t, "https://attacker.example/landing")
    return requests.get(f"{t.base}/end_session", timeout=5, allow_redirects=False, params={
        "id_token_hint": user_tokens(t)["id_token"], "client_id": client_id,
        "post_logout_redirect_uri": "https://attacker.example/landing"}), 400


def logout_hint_that_is_an_access_token(t: Target) -> tuple[requests.Response, int]:
    return requests.get(f"{t.base}/end_session", timeout=5, allow_redirects=False, params={
        "id_token_hint": user_tokens(t)["access_token"], "post_logout_redirect_uri": CALLBACK}), 400


def logout_redirect_not_registered(t: Target) -> tuple[requests.Response, int]:
    return requests.get(f"{t.base}/end_session", timeout=5, allow_redirects=False, params={
        "client_id": PUBLIC_CLIENT_ID, "post_logout_redirect_uri": "https://evil.example/"}), 400


def forged_id_token_hint(t: Target) -> tuple[requests.Response, int]:
    hint = user_tokens(t)["id_token"]
    head, body, sig = hint.split(".")
    return requests.get(f"{t.base}/end_session", timeout=5, allow_redirects=False, params={
        "id_token_hint": f"{head}.{body}.{sig[::-1]}", "post_logout_redirect_uri": CALLBACK}), 400


CASES: list[Callable[[Target], tuple[requests.Response, int]]] = [
    bad_signature, alg_none, hs256_with_public_key, unknown_kid, signed_but_never_issued, expired,
    id_token_as_access_token, revoked_access_token, client_credentials_token_on_portal, openid_user_token_on_portal,
    client_credentials_token_at_userinfo, token_in_query_not_header, pkce_mismatch, code_replay,
    code_with_other_redirect_uri, code_redeemed_by_other_client, refresh_reuse, refresh_by_other_client,
    refresh_scope_escalation, unregistered_redirect_uri, loopback_redirect_with_other_path,
    unknown_client_at_authorize, missing_pkce, plain_pkce, implicit_response_type, wrong_client_secret,
    unknown_client, public_client_credentials, two_auth_methods, unsupported_grant, repeated_parameter,
    oversized_body, wrong_content_type, wrong_password, unknown_user, device_approval_wrong_password,
    unknown_user_code, device_code_of_other_client, aws_device_code_of_other_client,
    introspection_by_public_client, introspection_without_auth, revoking_someone_elses_token,
    chaos_without_token, chaos_with_wrong_token, logout_redirect_not_registered, forged_id_token_hint,
    error_for_self_registered_client_not_redirected, prompt_none_for_self_registered_client_not_redirected,
    logout_redirect_without_id_token_hint, logout_hint_of_another_client, logout_hint_that_is_an_access_token,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_refused(target: Target, case: Callable[[Target], tuple[requests.Response, int]]) -> None:
    response, status = case(target)
    assert response.status_code == status, response.text[:300]
    text = response.text
    assert "access_token" not in text and "accessToken" not in text and "Traceback" not in text
    if response.headers.get("content-type", "").startswith("application/json") and text:
        body = response.json()
        assert body.get("error") or body.get("message"), body
    if status == 302:
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert "code" not in query and query["error"]


def test_the_suite_is_large_enough() -> None:
    assert len(CASES) >= 30


GARBAGE_BODIES = [b"", b"{", b"\xff\xfe\x00", b"a=%ZZ&b", b"=" * 5000, b'{"clientId": {"$ne": 1}}', b"[1,2]",
                  b"grant_type=authorization_code&code=&code_verifier=&redirect_uri="]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]


def test_garbage_never_makes_a_500_or_a_stack_trace(target: Target) -> None:
    posts = ["/token", "/device_authorization", "/client/register", "/login", "/device", "/introspect", "/revoke",
             "/end_session", "/authorize", "/logout", "/userinfo"]
    for path in posts:
        for body in GARBAGE_BODIES:
            for ctype in CONTENT_TYPES:
                response = requests.post(f"{target.base}{path}", data=body, headers={"Content-Type": ctype}, timeout=5)
                assert response.status_code < 500, (path, body, ctype, response.text[:200])
                assert "Traceback" not in response.text
    gets = ["/authorize?client_id=%ff&redirect_uri=%00", "/device?user_code=%ff%fe", "/end_session?id_token_hint=a.b.c",
            "/federation/credentials?account_id=%ff&role_name=%00", "/assignment/roles?account_id=1&max_result=-1",
            "/assignment/accounts?max_result=abc", "/login?client_id=" + "x" * 5000, "/userinfo"]
    for path in gets:
        for headers in ({}, {"Authorization": "Bearer a.b.c", "x-amz-sso_bearer_token": "e30.e30.e30"}):
            response = requests.get(f"{target.base}{path}", headers=headers, timeout=5)
            assert response.status_code < 500, (path, response.text[:200])
            assert "Traceback" not in response.text
