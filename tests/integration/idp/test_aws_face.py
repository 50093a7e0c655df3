"""The AWS faces through boto3, as `aws sso login` and botocore's credential provider use them: every
operation, and every modelled error raised as its own exception class."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
import requests

from .conftest import BOTO_CONFIG, START_URL, Target, pkce_pair

pytestmark = pytest.mark.integration
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def register(oidc: Any, **extra: Any) -> dict[str, Any]:
    response: dict[str, Any] = oidc.register_client(clientName="it-aws", clientType="public", **extra)
    return response


def device_tokens(target: Target, oidc: Any, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    client = register(oidc, **extra)
    auth = oidc.start_device_authorization(
        clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl=START_URL
    )
    assert target.approve(auth["userCode"]).status_code == 200
    token = oidc.create_token(
        clientId=client["clientId"], clientSecret=client["clientSecret"], grantType=DEVICE,
        deviceCode=auth["deviceCode"],
    )
    return client, token


def test_register_client_answers_like_aws(target: Target) -> None:
    before = int(time.time())
    client = register(target.sso_oidc(), scopes=["sso:account:access"])
    assert client["clientId"] and client["clientSecret"]
    assert before <= client["clientIdIssuedAt"] <= time.time()
    assert client["clientSecretExpiresAt"] > client["clientIdIssuedAt"] + 86400  # epoch seconds
    assert len(client["ResponseMetadata"]["RequestId"]) == 24  # x-amzn-RequestId


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"clientType": "confidential"}, "InvalidClientMetadataException"),
        ({"clientType": "public", "redirectUris": ["ftp://x/cb"]}, "InvalidRedirectUriException"),
        ({"clientType": "public", "scopes": ["bad scope"]}, "InvalidScopeException"),
        ({"clientType": "public", "grantTypes": ["password"]}, "UnsupportedGrantTypeException"),
        ({"clientType": "public", "grantTypes": ["authorization_code"]}, "InvalidRedirectUriException"),
    ],
)
def test_register_client_errors(target: Target, kwargs: dict[str, Any], error: str) -> None:
    oidc = target.sso_oidc()
    with pytest.raises(getattr(oidc.exceptions, error)) as raised:
        oidc.register_client(clientName="it", **kwargs)
    assert raised.value.response["error"]  # the OAuth body survives next to the AWS code


def test_device_flow_pending_slow_down_approve_token_and_single_use(target: Target) -> None:
    oidc = target.sso_oidc()
    client = register(oidc)
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    auth = oidc.start_device_authorization(**ids, startUrl=START_URL)
    assert auth["interval"] == 1 and auth["expiresIn"] == 600
    assert auth["verificationUriComplete"] == f"{target.base}/device?user_code={auth['userCode']}"
    poll = {**ids, "grantType": DEVICE, "deviceCode": auth["deviceCode"]}
    with pytest.raises(oidc.exceptions.AuthorizationPendingException) as pending:
        oidc.create_token(**poll)
    assert pending.value.response["error"] == "authorization_pending"
    with pytest.raises(oidc.exceptions.SlowDownException):
        oidc.create_token(**poll)  # at once, faster than the interval
    page = requests.get(auth["verificationUriComplete"], timeout=5)
    assert page.status_code == 200 and auth["userCode"] in page.text
    assert target.approve(auth["userCode"]).status_code == 200
    with pytest.raises(oidc.exceptions.SlowDownException):
        oidc.create_token(**poll)  # approved, but the raised interval (6 s) still holds for this code


def test_approved_device_code_gives_tokens_once(target: Target) -> None:
    oidc = target.sso_oidc()
    client = register(oidc)
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    auth = oidc.start_device_authorization(**ids, startUrl=START_URL)
    assert target.approve(auth["userCode"]).status_code == 200
    poll = {**ids, "grantType": DEVICE, "deviceCode": auth["deviceCode"]}
    token = oidc.create_token(**poll)
    assert token["tokenType"] == "Bearer" and token["accessToken"] and token["refreshToken"]
    assert token["expiresIn"] == 3600
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(**poll)  # device codes are single use (checked before the polling interval)


def test_denied_device_code_is_access_denied(target: Target) -> None:
    oidc = target.sso_oidc()
    client = register(oidc)
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    auth = oidc.start_device_authorization(**ids, startUrl=START_URL)
    assert target.approve(auth["userCode"], approve="no").status_code == 200
    with pytest.raises(oidc.exceptions.AccessDeniedException):
        oidc.create_token(**ids, grantType=DEVICE, deviceCode=auth["deviceCode"])


def test_device_code_expires(target: Target) -> None:
    assert target.chaos("PUT", "/device", {"interval_s": 0, "expires_in_s": 1}).status_code == 200
    oidc = target.sso_oidc()
    client = register(oidc)
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    auth = oidc.start_device_authorization(**ids, startUrl=START_URL)
    assert auth["expiresIn"] == 1
    deadline = time.monotonic() + 10
    with pytest.raises(oidc.exceptions.ExpiredTokenException):
        while time.monotonic() < deadline:
            with pytest.raises(oidc.exceptions.AuthorizationPendingException):
                oidc.create_token(**ids, grantType=DEVICE, deviceCode=auth["deviceCode"])
            time.sleep(0.1)


def test_wrong_client_secret_is_invalid_client(target: Target) -> None:
    oidc = target.sso_oidc()
    client = register(oidc)
    with pytest.raises(oidc.exceptions.InvalidClientException) as raised:
        oidc.start_device_authorization(clientId=client["clientId"], clientSecret="wrong", startUrl=START_URL)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    with pytest.raises(oidc.exceptions.InvalidClientException):
        oidc.create_token(clientId="nobody", clientSecret="x", grantType=DEVICE, deviceCode="dc.x")


def test_unknown_device_code_and_unmodelled_grant(target: Target) -> None:
    oidc = target.sso_oidc()
    client = register(oidc)
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(**ids, grantType=DEVICE, deviceCode="dc.nope")
    with pytest.raises(oidc.exceptions.UnsupportedGrantTypeException):
        oidc.create_token(**ids, grantType="client_credentials")
    with pytest.raises(oidc.exceptions.UnauthorizedClientException):
        oidc.create_token(**ids, grantType="authorization_code", code="x", redirectUri="http://127.0.0.1/cb",
                          codeVerifier="v" * 43)
    with pytest.raises(oidc.exceptions.InvalidRequestException):
        oidc.start_device_authorization(**ids, startUrl="http://not-https.example")


def test_refresh_rotates_and_reuse_revokes_the_family(target: Target) -> None:
    oidc = target.sso_oidc()
    client, token = device_tokens(target, oidc)
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    fresh = oidc.create_token(**ids, grantType="refresh_token", refreshToken=token["refreshToken"])
    assert fresh["refreshToken"] != token["refreshToken"]
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(**ids, grantType="refresh_token", refreshToken=token["refreshToken"])
    # The reuse revoked the whole family: the rotated token and its access token are dead too.
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(**ids, grantType="refresh_token", refreshToken=fresh["refreshToken"])
    with pytest.raises(target.sso().exceptions.UnauthorizedException):
        target.sso().list_accounts(accessToken=fresh["accessToken"])


def test_sso_login_pkce_flow_with_port_agnostic_loopback_redirect(target: Target) -> None:
    oidc = target.sso_oidc()
    client = register(
        oidc, grantTypes=["authorization_code", "refresh_token"], redirectUris=["http://127.0.0.1/oauth/callback"],
        issuerUrl=START_URL, scopes=["sso:account:access"],
    )
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:49152/oauth/callback"
    params = {
        "response_type": "code", "client_id": client["clientId"], "redirect_uri": redirect, "state": "st-1",
        "code_challenge_method": "S256", "scopes": "sso:account:access", "code_challenge": challenge,
    }
    answer = target.login_code(params, consent=True)  # a registered client is third-party: the user allows it
    assert answer["state"] == "st-1" and answer["iss"] == target.base
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    with pytest.raises(oidc.exceptions.InvalidGrantException):
        oidc.create_token(**ids, grantType="authorization_code", code=answer["code"], redirectUri=redirect,
                          codeVerifier=pkce_pair()[0])  # wrong verifier
    answer = target.login_code(params, consent=True)
    token = oidc.create_token(**ids, grantType="authorization_code", code=answer["code"], redirectUri=redirect,
                              codeVerifier=verifier)
    assert token["accessToken"] and token["refreshToken"]
    assert target.sso().list_accounts(accessToken=token["accessToken"])["accountList"]


def test_portal_operations_and_pagination(target: Target) -> None:
    _, token = device_tokens(target, target.sso_oidc())
    sso = target.sso()
    access = token["accessToken"]
    pages = list(sso.get_paginator("list_accounts").paginate(accessToken=access, PaginationConfig={"PageSize": 1}))
    assert len(pages) == 4
    accounts = [a for page in pages for a in page["accountList"]]
    assert [a["accountId"] for a in accounts] == ["111111111111", "222222222222", "333333333333", "444444444444"]
    assert accounts[0] == {"accountId": "111111111111", "accountName": "harness-dev",
                           "emailAddress": "harness-dev@example.test"}
    roles = [
        r for page in sso.get_paginator("list_account_roles").paginate(
            accessToken=access, accountId="111111111111", PaginationConfig={"PageSize": 2})
        for r in page["roleList"]
    ]
    assert [r["roleName"] for r in roles] == ["AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess"]
    before_ms = time.time() * 1000
    creds = sso.get_role_credentials(accessToken=access, accountId="111111111111", roleName="ReadOnlyAccess")
    role = creds["roleCredentials"]
    assert role["accessKeyId"].startswith("ASIA") and len(role["accessKeyId"]) == 20
    assert role["secretAccessKey"] and role["sessionToken"]
    assert before_ms + 3000 * 1000 < role["expiration"] < before_ms + 3700 * 1000  # epoch milliseconds


def test_portal_errors(target: Target) -> None:
    _, token = device_tokens(target, target.sso_oidc())
    sso, access = target.sso(), token["accessToken"]
    with pytest.raises(sso.exceptions.UnauthorizedException) as raised:
        sso.list_accounts(accessToken="not-a-token")
    assert raised.value.response["Error"]["Message"] == "Session token not found or invalid"
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.list_account_roles(accessToken=access, accountId="999999999999")
    with pytest.raises(sso.exceptions.ResourceNotFoundException):
        sso.get_role_credentials(accessToken=access, accountId="111111111111", roleName="NoSuchRole")
    with pytest.raises(sso.exceptions.InvalidRequestException):
        sso.list_accounts(accessToken=access, maxResults=101)
    with pytest.raises(sso.exceptions.InvalidRequestException):
        sso.list_accounts(accessToken=access, nextToken="garbage!")
    with pytest.raises(sso.exceptions.InvalidRequestException):
        sso.get_role_credentials(accessToken=access, accountId="12", roleName="ReadOnlyAccess")


def test_the_portal_wants_a_token_for_sso_account_access(target: Target) -> None:
    # RegisterClient takes any scope, as AWS does; only a token granted sso:account:access opens the portal
    _, token = device_tokens(target, target.sso_oidc(), scopes=["openid", "profile"])
    sso = target.sso()
    with pytest.raises(sso.exceptions.UnauthorizedException):
        sso.list_accounts(accessToken=token["accessToken"])
    with pytest.raises(sso.exceptions.UnauthorizedException):
        sso.get_role_credentials(accessToken=token["accessToken"], accountId="111111111111",
                                 roleName="AdministratorAccess")
    _, token = device_tokens(target, target.sso_oidc(), scopes=["openid", "sso:account:access"])
    assert sso.list_accounts(accessToken=token["accessToken"])["accountList"]


def test_logout_revokes_the_access_token(target: Target) -> None:
    _, token = device_tokens(target, target.sso_oidc())
    sso = target.sso()
    sso.list_accounts(accessToken=token["accessToken"])
    sso.logout(accessToken=token["accessToken"])
    with pytest.raises(sso.exceptions.UnauthorizedException):
        sso.list_accounts(accessToken=token["accessToken"])
    with pytest.raises(sso.exceptions.UnauthorizedException):
        sso.logout(accessToken=token["accessToken"])


def test_injected_aws_errors_raise_their_class(target: Target) -> None:
    rule = {"endpoint": "register_client", "status": 400, "aws_error_type": "SlowDownException"}
    assert target.chaos("PUT", "/errors", rule).status_code == 200
    oidc = target.sso_oidc()
    with pytest.raises(oidc.exceptions.SlowDownException):
        register(oidc)
    rule = {
        "endpoint": "list_accounts", "status": 429, "retry_after_s": 1, "aws_error_type": "TooManyRequestsException"
    }
    assert target.chaos("PUT", "/errors", rule).status_code == 200
    sso = target.sso()
    with pytest.raises(sso.exceptions.TooManyRequestsException):
        sso.list_accounts(accessToken="whatever")
    target.chaos("DELETE", "/errors")
    assert register(oidc)["clientId"]


def test_endpoint_env_vars_reach_both_services(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSO_OIDC", target.base)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", target.base)
    session = boto3.Session(region_name="us-east-1")
    oidc = session.client("sso-oidc", config=BOTO_CONFIG)
    sso = session.client("sso", config=BOTO_CONFIG)
    client = register(oidc)
    auth = oidc.start_device_authorization(
        clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl=START_URL
    )
    target.approve(auth["userCode"], username="user0007")
    token = oidc.create_token(
        clientId=client["clientId"], clientSecret=client["clientSecret"], grantType=DEVICE,
        deviceCode=auth["deviceCode"],
    )
    assert len(sso.list_accounts(accessToken=token["accessToken"])["accountList"]) == 4


def test_bad_json_is_invalid_request_never_a_500(target: Target) -> None:
    for body in (b"{", b"[]", b'{"clientName": 5, "clientType": "public"}', b"\xff\xfe", b"x" * 20000):
        response = requests.post(f"{target.base}/client/register", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=5)
        assert response.status_code == (413 if len(body) > 16384 else 400), body
        assert response.headers["x-amzn-ErrorType"].startswith("InvalidRequestException")
        assert "Traceback" not in response.text
    oidc = target.sso_oidc()
    with pytest.raises(oidc.exceptions.InvalidRequestException) as raised:  # the 413, as botocore sees it
        oidc.register_client(clientName="x" * 20000, clientType="public")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
