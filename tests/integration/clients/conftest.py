"""A real `harness target` per test module, flows wired to it, and a recording transport that collects
every secret the exchanges carried (tokens, codes, client secrets, passwords) so that the tests can scan
every record for them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from harness.clients import Caller, RetryPolicy
from harness.clients.flows import ClientCredentials, FlowContext, UserCredentials
from harness.clients.provider import Provider
from harness.contract import AttemptRow, OperationRow, seeded_password, seeded_username
from harness.scenario.model import Retry, RetryStop, RetryWait
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process
from tests.unit.clients.fakes import ListSink

CLIENT_ID = "it-clients"
CLIENT_SECRET = "it-Clients-Secret-7hQ2vX9mKp3L"  # distinctive, so a leak is easy to grep for
SEED_USERS = 5
# every field of a wire body or redirect that must never reach a record
SECRET_KEYS = frozenset({
    "access_token", "refresh_token", "id_token", "device_code", "user_code", "code", "code_verifier",
    "client_secret", "password", "accessToken", "refreshToken", "idToken", "deviceCode", "userCode",
    "clientSecret", "accessKeyId", "secretAccessKey", "sessionToken", "token",
})


class RecordingAdapter(HTTPAdapter):
    """An ordinary HTTPAdapter (no retries) that remembers the secret values going over it."""

    def __init__(self, secrets: set[str]):
        super().__init__(max_retries=0)
        self.secrets = secrets

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self._collect_body(request.body, request.headers.get("Content-Type", ""))
        self._collect_query(request.url or "")
        for name in ("Authorization", "x-amz-sso_bearer_token"):
            if value := request.headers.get(name):
                self.secrets.add(value.split(" ", 1)[-1])
        response = super().send(request, *args, **kwargs)
        if location := response.headers.get("location"):
            self._collect_query(location)
        if response.headers.get("content-type", "").startswith("application/json"):
            self._collect_body(response.content, "application/json")
        return response

    def _collect_body(self, body: object, content_type: str) -> None:
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, bytes) or not body:
            return
        if "json" in content_type:
            with contextlib.suppress(ValueError):
                self._collect_json(json.loads(body))
        elif "form" in content_type:
            self._collect_pairs(parse_qs(body.decode(errors="replace")))

    def _collect_query(self, url: str) -> None:
        self._collect_pairs(parse_qs(urlsplit(url).query))

    def _collect_pairs(self, pairs: dict[str, list[str]]) -> None:
        for key, values in pairs.items():
            if key in SECRET_KEYS:
                self.secrets.update(v for v in values if len(v) >= 6)

    def _collect_json(self, value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SECRET_KEYS and isinstance(item, str) and len(item) >= 6:
                    self.secrets.add(item)
                else:
                    self._collect_json(item)
        elif isinstance(value, list):
            for item in value:
                self._collect_json(item)


@dataclass
class Harness:
    """One simulated user's flows against the module's target, with what it recorded and saw."""

    ctx: FlowContext
    sink: ListSink
    secrets: set[str] = field(default_factory=set)

    def rows(self) -> list[AttemptRow | OperationRow]:
        return [*self.sink.attempts, *self.sink.operations]

    def leaked(self) -> list[tuple[str, str]]:
        """(field, value) of every record value that contains a secret seen on the wire."""
        found = []
        for row in self.rows():
            for key, value in row.items():
                text = str(value)
                if any(secret in text for secret in self.secrets):
                    found.append((key, text))
        return found


def user_context(base_url: str, *, retry: Retry | None = None, user_index: int = 1, client_id: str = CLIENT_ID,
                 client_secret: str = CLIENT_SECRET) -> Harness:
    secrets = {CLIENT_SECRET}
    session = requests.Session()
    session.trust_env = False
    adapter = RecordingAdapter(secrets)
    session.mount("http://", adapter)
    sink = ListSink()
    policy = RetryPolicy(retry or Retry(stop=RetryStop(after_attempt=3), wait=RetryWait(fixed_s=0.02)))
    caller = Caller(session, policy, sink, user=f"it-{user_index}", node="local", phase=lambda: "steady")
    name = seeded_username(user_index, SEED_USERS)
    secrets.add(seeded_password(name))
    ctx = FlowContext(caller, Provider.embedded(base_url), ClientCredentials(client_id, client_secret),
                      UserCredentials(name, seeded_password(name)))
    return Harness(ctx, sink, secrets)


@contextlib.contextmanager
def start_target(tmp: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp / "t.db"),
                        "--seed-users", str(SEED_USERS), "--device-interval-s", "1", *extra)
    env = {"HARNESS_CLIENT_ID": CLIENT_ID, "HARNESS_CLIENT_SECRET": CLIENT_SECRET}
    with running_process(argv, log_dir=tmp / "logs", name="target", env=env,
                         ready_url=f"http://{LOOPBACK}:{port}/healthz"):
        yield f"http://{LOOPBACK}:{port}"


@pytest.fixture(scope="module")
def target_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_target(tmp_path_factory.mktemp("target")) as url:
        yield url
