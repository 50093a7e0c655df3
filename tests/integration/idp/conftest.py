"""A real `harness target` process per test module (starting one costs about a second), with helpers to
drive it as the load clients will: boto3 for the AWS faces, plain form POSTs for the browser pages."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config

from tests.helpers import LOOPBACK, free_port, harness_argv, running_process

ADMIN_TOKEN = "adm-7Hq2Lx9PzR4vK8mN3sW6"
CLIENT_ID = "it-conf"
CLIENT_SECRET = "it-conf-Secret-5tG8kW2xQ9mZ"
PUBLIC_CLIENT_ID = "it-public"
RESOURCE_SERVER_ID = "it-api"
RESOURCE_SERVER_SECRET = "it-api-Secret-3vB7nQ1zXw8K"
REDIRECT = "http://127.0.0.1/callback"
START_URL = "https://d-0000000000.awsapps.com/start"
ENV = {
    "HARNESS_CLIENT_ID": CLIENT_ID,
    "HARNESS_CLIENT_SECRET": CLIENT_SECRET,
    "HARNESS_PUBLIC_CLIENT_ID": PUBLIC_CLIENT_ID,
    "HARNESS_TARGET_ADMIN_TOKEN": ADMIN_TOKEN,
    "HARNESS_RESOURCE_SERVER_ID": RESOURCE_SERVER_ID,
    "HARNESS_RESOURCE_SERVER_SECRET": RESOURCE_SERVER_SECRET,
}
# No retries: a test must see each answer as the server gave it.
BOTO_CONFIG = Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1, "mode": "standard"})


@dataclass
class Target:
    base: str
    port: int
    db: Path
    tmp: Path

    def sso_oidc(self) -> Any:
        return boto3.client("sso-oidc", region_name="us-east-1", endpoint_url=self.base, config=BOTO_CONFIG)

    def sso(self) -> Any:
        return boto3.client("sso", region_name="us-east-1", endpoint_url=self.base, config=BOTO_CONFIG)

    def chaos(self, method: str, path: str, json: dict[str, Any] | None = None) -> requests.Response:
        return requests.request(
            method, f"{self.base}/chaos{path}", json=json, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )

    def approve(self, user_code: str, username: str = "user0001", approve: str = "yes") -> requests.Response:
        return requests.post(
            f"{self.base}/device",
            data={"user_code": user_code, "username": username, "password": f"pw-{username}", "approve": approve},
            timeout=10,
        )

    def login_code(self, params: dict[str, str], username: str = "user0001", *,
                   consent: bool = False) -> dict[str, str]:
        """Sign in through /authorize and /login as a browser would, and allow on the consent screen when
        the client is third-party (`consent`); the redirect's query parameters."""
        browser = requests.Session()
        page = browser.get(f"{self.base}/authorize", params=params, timeout=10, allow_redirects=False)
        assert page.status_code == 200, page.text
        form = {**params, "username": username, "password": f"pw-{username}"}
        response = browser.post(f"{self.base}/login", data=form, timeout=10, allow_redirects=False)
        if consent:
            assert response.status_code == 200 and 'name="consent_ticket"' in response.text, response.text
            ticket = response.text.split('name="consent_ticket" value="', 1)[1].split('"', 1)[0]
            response = browser.post(f"{self.base}/authorize", data={"consent_ticket": ticket, "approve": "yes"},
                                    timeout=10, allow_redirects=False)
        assert response.status_code == 302, response.text
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@contextlib.contextmanager
def start_target(tmp: Path, *extra: str, name: str, port: int | None = None,
                 env: dict[str, str] | None = None) -> Iterator[Target]:
    port = port or free_port()
    db = tmp / "target.sqlite3"
    argv = harness_argv(
        "target", "--host", LOOPBACK, "--port", str(port), "--db", str(db), "--audit-log", str(tmp / "audit.jsonl"),
        "--seed-users", "20", *extra,
    )
    with running_process(
        argv, log_dir=tmp / "logs", name=name, env=ENV if env is None else env,
        ready_url=f"http://{LOOPBACK}:{port}/healthz",
    ):
        yield Target(f"http://{LOOPBACK}:{port}", port, db, tmp)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("target")
    with start_target(tmp, name="target") as server:
        yield server


@pytest.fixture(autouse=True)
def _chaos_off(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "target" in request.fixturenames:
        request.getfixturevalue("target").chaos("POST", "/reset")
