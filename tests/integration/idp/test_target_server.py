"""`harness target` as a real process on loopback: tokens verify against the served JWKS, state survives
a restart, several workers sign with one key, and the client secret never reaches a log."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from harness.idp.store import Store
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process, stop_process, wait_http_ok

pytestmark = pytest.mark.integration

CLIENT_ID = "it-client"
CLIENT_SECRET = "it-Secret-9fK2mQ7xLp4vR8sT1wZc"  # distinctive, so a leak is easy to grep for
ENV = {"HARNESS_CLIENT_ID": CLIENT_ID, "HARNESS_CLIENT_SECRET": CLIENT_SECRET}


class Target:
    def __init__(self, tmp_path: Path, db: Path, port: int, process: subprocess.Popen[bytes]):
        self.port = port
        self.base = f"http://{LOOPBACK}:{port}"
        self.db = db
        self.process = process
        self.tmp_path = tmp_path

    def token(self, session: requests.Session | None = None) -> str:
        post = (session or requests).post
        response = post(
            f"{self.base}/token",
            data={"grant_type": "client_credentials", "scope": "api"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def verify(self, token: str) -> dict[str, Any]:
        discovery = requests.get(f"{self.base}/.well-known/openid-configuration", timeout=5).json()
        jwks = jwt.PyJWKSet.from_dict(requests.get(discovery["jwks_uri"], timeout=5).json())
        header = jwt.get_unverified_header(token)
        key = next(k for k in jwks.keys if k.key_id == header["kid"])
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=["RS256"], audience=discovery["issuer"], issuer=discovery["issuer"]
        )
        return claims

    def kids(self) -> list[str]:
        jwks = requests.get(f"{self.base}/.well-known/jwks.json", timeout=5).json()
        return [k["kid"] for k in jwks["keys"]]


@contextlib.contextmanager
def target(tmp_path: Path, db: Path, *extra: str, name: str, port: int | None = None) -> Iterator[Target]:
    port = port or free_port()
    argv = harness_argv(
        "target", "--host", LOOPBACK, "--port", str(port), "--db", str(db),
        "--audit-log", str(tmp_path / "audit.jsonl"), *extra,
    )
    with running_process(
        argv, log_dir=tmp_path / "logs", name=name, env=ENV, ready_url=f"http://{LOOPBACK}:{port}/healthz"
    ) as process:
        yield Target(tmp_path, db, port, process)


def assert_secret_never_logged(tmp_path: Path) -> None:
    files = [*sorted((tmp_path / "logs").iterdir()), tmp_path / "audit.jsonl"]
    for path in files:
        assert CLIENT_SECRET not in path.read_text(errors="replace"), f"client secret leaked into {path}"


def audit_events(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_serves_verifiable_tokens_and_a_restart_keeps_keys_and_tokens(tmp_path: Path) -> None:
    db = tmp_path / "target.sqlite3"
    with target(tmp_path, db, "--log-level", "info", name="first") as first:
        token = first.token()
        claims = first.verify(token)
        assert claims["client_id"] == CLIENT_ID and claims["scope"] == "api"
        kids_before = first.kids()
        assert requests.post(f"{first.base}/token", data={"grant_type": "client_credentials"},
                             auth=(CLIENT_ID, "wrong"), timeout=5).status_code == 401
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says what ended it.
        assert stop_process(first.process) in (0, -signal.SIGTERM)

    # The audit buffer was flushed at shutdown.
    events = audit_events(tmp_path)
    assert [e["event"] for e in events] == ["token_issued", "client_auth_failed"]
    assert events[0]["jti"] == claims["jti"]

    # Same port, hence the same issuer: a restart as clients see it.
    with target(tmp_path, db, "--log-level", "info", name="second", port=first.port) as second:
        assert second.kids() == kids_before
        assert second.verify(token)["jti"] == claims["jti"]  # old tokens still verify
        assert second.verify(second.token())["client_id"] == CLIENT_ID

    store = Store(str(db))
    record = store.get_token(claims["jti"])
    store.close()
    assert record is not None and record.client_id == CLIENT_ID
    assert_secret_never_logged(tmp_path)


def test_two_workers_sign_with_the_same_key(tmp_path: Path) -> None:
    db = tmp_path / "target.sqlite3"
    with target(tmp_path, db, "--workers", "2", name="workers") as server:
        kids: set[str] = set()
        lock = threading.Lock()

        def burst(_: int) -> None:
            # A fresh connection per request, so the kernel hands connections to both workers.
            for _ in range(20):
                header = jwt.get_unverified_header(server.token())
                with lock:
                    kids.add(header["kid"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(burst, range(8)))
        assert len(kids) == 1 and kids <= set(server.kids())
        stop_process(server.process)

    pids = {e["pid"] for e in audit_events(tmp_path) if e["event"] == "token_issued"}
    assert len(pids) == 2, f"expected both workers to issue tokens, saw pids {pids}"
    assert_secret_never_logged(tmp_path)


def test_two_servers_starting_together_on_a_new_db_agree_on_one_key(tmp_path: Path) -> None:
    db = tmp_path / "target.sqlite3"
    with contextlib.ExitStack() as stack:
        # Both processes start before either is polled, so they race through first start on the empty
        # database: exactly one generated key may win.
        port_a, port_b = free_port(), free_port()
        procs = []
        for name, port in (("a", port_a), ("b", port_b)):
            argv = harness_argv("target", "--port", str(port), "--db", str(db))
            started = running_process(argv, log_dir=tmp_path / "logs", name=name, env=ENV)
            procs.append(stack.enter_context(started))
        kid_sets = []
        for port, proc in ((port_a, procs[0]), (port_b, procs[1])):
            wait_http_ok(f"http://{LOOPBACK}:{port}/healthz", process=proc)
            jwks = requests.get(f"http://{LOOPBACK}:{port}/.well-known/jwks.json", timeout=5).json()
            kid_sets.append({k["kid"] for k in jwks["keys"]})
    assert kid_sets[0] == kid_sets[1] and len(kid_sets[0]) == 2  # one RS256 and one ES256 key


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_an_infrastructure_failure(tmp_path: Path, workers: str) -> None:
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = harness_argv("target", "--port", str(port), "--db", str(tmp_path / "t.sqlite3"), "--workers", workers)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, **ENV})
    assert result.returncode == 4, result.stderr
    assert "did not start" in result.stderr
    assert CLIENT_SECRET not in result.stdout + result.stderr
