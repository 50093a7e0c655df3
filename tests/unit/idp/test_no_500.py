"""No input makes a 500: every hostile body, string or number gets the 4xx its face models (RFC 6749 JSON
on the OIDC face, InvalidRequestException on AWS sso-oidc and the portal)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from harness.idp.app import create_app
from harness.idp.chaosapi import admin_token_sha256
from harness.idp.config import TargetConfig

from .conftest import ISSUER, aws_login, seed

AWS_JSON_PATHS = ("/client/register", "/token", "/device_authorization")


@pytest.fixture
def raw(config: TargetConfig) -> Iterator[TestClient]:
    """The app as a client sees it: an unhandled error is the 500 it answers, not an exception in the test."""
    seed(config)
    with TestClient(create_app(config), base_url=ISSUER, raise_server_exceptions=False) as client:
        yield client


def post_json(http: TestClient, path: str, body: bytes) -> int:
    response = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert "Traceback" not in response.text
    return int(response.status_code)


@pytest.mark.parametrize("path", AWS_JSON_PATHS)
def test_deeply_nested_json_is_invalid_request(raw: TestClient, path: str) -> None:
    for body in (b"[" * 8000, b'{"clientName":' * 1000 + b"1" + b"}" * 1000):
        response = raw.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text[:200])
        assert response.headers["x-amzn-ErrorType"].startswith("InvalidRequestException")


@pytest.mark.parametrize("member", ["clientName", "clientId", "clientSecret", "startUrl", "issuerUrl"])
def test_lone_surrogates_are_invalid_request(raw: TestClient, member: str) -> None:
    body = {"clientName": "n", "clientType": "public", "clientId": "c", "clientSecret": "s",
            "startUrl": "https://d-1.awsapps.com/start", "grantType": "refresh_token", "refreshToken": "rt.x",
            member: "a\ud800b"}
    raw_body = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as the escape \ud800
    assert b"\\ud800" in raw_body
    for path in AWS_JSON_PATHS:
        response = raw.post(path, content=raw_body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text[:200])
        assert response.headers["x-amzn-ErrorType"].startswith("InvalidRequestException")


def next_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("params", [
    {"next_token": next_token("o:" + "9" * 30)},            # beyond int64
    {"next_token": next_token("o:9223372036854775808")},   # 2**63
    {"max_result": "\u00b2"},                               # a digit to str.isdigit, not to int()
    {"max_result": "1e3"},
    {"max_result": "\uff15"},                               # fullwidth 5
    {"max_result": " 5"},
])
def test_pagination_input_beyond_the_model_is_invalid_request(raw: TestClient, params: dict[str, str]) -> None:
    token = aws_login(raw)["accessToken"]
    for path, extra in (("/assignment/accounts", {}), ("/assignment/roles", {"account_id": "111111111111"})):
        response = raw.get(path, params={**extra, **params}, headers={"x-amz-sso_bearer_token": token})
        assert response.status_code == 400, (path, params, response.text[:200])
        assert response.headers["x-amzn-ErrorType"] == "InvalidRequestException"


@pytest.mark.parametrize("account_id", ["\u0661" * 12, "\uff11" * 12])  # Arabic-Indic and fullwidth digits
def test_account_ids_are_ascii_digits(raw: TestClient, account_id: str) -> None:
    token = aws_login(raw)["accessToken"]
    response = raw.get("/federation/credentials", params={"account_id": account_id, "role_name": "ReadOnlyAccess"},
                       headers={"x-amz-sso_bearer_token": token})
    assert response.status_code == 400 and response.headers["x-amzn-ErrorType"] == "InvalidRequestException"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["clientName", "clientType", "clientId", "clientSecret", "grantType",
                                       "deviceCode", "refreshToken", "scopes", "redirectUris", "startUrl",
                                       "x"]), children, max_size=6),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values, path=st.sampled_from(AWS_JSON_PATHS))
def test_no_json_body_makes_a_500(raw: TestClient, body: object, path: str) -> None:
    assert post_json(raw, path, json.dumps(body).encode()) < 500


def test_the_chaos_api_refuses_deep_json_with_400(config: TargetConfig) -> None:
    admin = "adm-unit-token"
    config = replace(config, admin_token_sha256=admin_token_sha256(admin))
    seed(config)
    with TestClient(create_app(config), base_url=ISSUER, raise_server_exceptions=False) as http:
        response = http.put("/chaos/clock_skew", content=b"[" * 3000, headers={"Authorization": f"Bearer {admin}"})
        assert response.status_code == 400, response.text[:200]
