from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from harness.idp.app import create_app
from harness.idp.config import TargetConfig
from harness.idp.directory import seed_client, seed_directory
from harness.idp.store import Store

ISSUER = "http://target.test"
START_URL = "https://d-0000000000.awsapps.com/start"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_ID = "svc-reporting"
CLIENT_SECRET = "cs-4hT9qZxV2mKp8sWn7bYd3rLf"
NO_GRANT_CLIENT_ID = "svc-no-grant"


@pytest.fixture
def config(tmp_path: Path) -> TargetConfig:
    return TargetConfig(
        db_path=str(tmp_path / "target.sqlite3"),
        issuer=ISSUER,
        audit_log=str(tmp_path / "audit.jsonl"),
    )


def seed(config: TargetConfig) -> None:
    store = Store(config.db_path)
    store.initialize()
    seed_client(store, CLIENT_ID, CLIENT_SECRET)
    seed_client(store, NO_GRANT_CLIENT_ID, CLIENT_SECRET, grant_types=())
    seed_directory(store, 3)  # user0001..user0003, password pw-<name>
    store.close()


@pytest.fixture
def http(config: TargetConfig) -> Iterator[TestClient]:
    """The app with its lifespan running and two clients seeded."""
    seed(config)
    with TestClient(create_app(config), base_url=ISSUER) as client:
        yield client


def aws_login(http: TestClient, username: str = "user0001", **register: object) -> dict[str, str]:
    """RegisterClient, StartDeviceAuthorization, approval on the device page and CreateToken, as the AWS
    CLI does it; the registration's ids and the token response in one dict."""
    client = http.post("/client/register", json={"clientName": "unit", "clientType": "public", **register}).json()
    ids = {"clientId": client["clientId"], "clientSecret": client["clientSecret"]}
    auth = http.post("/device_authorization", json={**ids, "startUrl": START_URL}).json()
    approved = http.post("/device", data={"user_code": auth["userCode"], "username": username,
                                          "password": f"pw-{username}", "approve": "yes"})
    assert approved.status_code == 200, approved.text
    http.cookies.clear()
    token = http.post("/token", json={**ids, "grantType": DEVICE, "deviceCode": auth["deviceCode"]})
    assert token.status_code == 200, token.text
    return {**ids, **token.json()}
