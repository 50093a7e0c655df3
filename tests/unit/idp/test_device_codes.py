"""User codes on the device page (RFC 8628 section 5.1): failed attempts are rate-limited per client address,
an unknown code and a wrong password look the same, and a spent device code is invalid_grant at any pace."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from harness.idp.app import create_app
from harness.idp.config import TargetConfig
from harness.idp.directory import seed_client
from harness.idp.ratelimit import AttemptLimiter
from harness.idp.store import Store

from .conftest import DEVICE, ISSUER, seed
from .test_ratelimit import Clock

PUBLIC = "unit-public"


@pytest.fixture
def device_http(config: TargetConfig) -> Iterator[TestClient]:
    config = replace(config, user_code_attempts_burst=3, user_code_attempts_per_min=6.0, device_interval_s=1)
    seed(config)
    store = Store(config.db_path)
    seed_client(store, PUBLIC, None, grant_types=(DEVICE,), scopes=("openid",))
    store.close()
    with TestClient(create_app(config), base_url=ISSUER) as client:
        yield client


def start(http: TestClient) -> dict[str, str]:
    body: dict[str, str] = http.post("/device_authorization", data={"client_id": PUBLIC}).json()
    return body


def submit(http: TestClient, user_code: str, password: str = "pw-user0001") -> tuple[int, str]:
    response = http.post("/device", data={"user_code": user_code, "username": "user0001", "password": password,
                                          "approve": "yes"})
    http.cookies.clear()
    message = re.search(r'<p class="error">(.*?)</p>', response.text)
    return response.status_code, message[1] if message else ""


def test_an_unknown_code_and_a_wrong_password_get_the_same_answer(device_http: TestClient) -> None:
    live = start(device_http)["user_code"]
    wrong_password = submit(device_http, live, password="nope")
    unknown_code = submit(device_http, "BBBB-CCCC")
    unknown_and_wrong = submit(device_http, "BBBB-CCCD", password="nope")
    assert wrong_password == unknown_code == unknown_and_wrong
    assert wrong_password[0] == 400 and wrong_password[1]


def test_failed_attempts_are_rate_limited_and_successes_are_not(device_http: TestClient) -> None:
    for _ in range(3):
        assert submit(device_http, "BBBB-CCCC")[0] == 400
    live = start(device_http)["user_code"]
    blocked = device_http.post("/device", data={"user_code": live, "username": "user0001",
                                                "password": "pw-user0001", "approve": "yes"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "approved" not in blocked.text.lower()


def test_the_limiter_refills_and_counts_per_address() -> None:
    clock = Clock()
    limiter = AttemptLimiter(burst=2, per_min=6.0, clock=clock)
    assert limiter.retry_after_s("a") is None
    limiter.charge("a")
    limiter.charge("a")
    assert limiter.retry_after_s("a") == 10 and limiter.retry_after_s("b") is None
    clock.now += 10
    assert limiter.retry_after_s("a") is None


def test_a_spent_device_code_is_invalid_grant_at_any_pace(device_http: TestClient) -> None:
    auth = start(device_http)
    assert submit(device_http, auth["user_code"])[0] == 200
    poll = {"grant_type": DEVICE, "device_code": auth["device_code"], "client_id": PUBLIC}
    assert device_http.post("/token", data=poll).status_code == 200
    for pause_s in (0.0, 0.0, 1.2):  # faster than the 1 s interval, then slower
        time.sleep(pause_s)
        again = device_http.post("/token", data=poll)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text
