from __future__ import annotations

import logging
from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.contract import Env
from harness.errors import InfrastructureError, InputError
from harness.idp.config import TargetConfig
from harness.idp.server import DropQueryString, config_from_args, prepare
from harness.idp.store import Store


def parse(*argv: str) -> TargetConfig:
    return config_from_args(build_parser().parse_args(["target", *argv]))


def test_issuer_defaults_to_the_listen_address(tmp_path: Path) -> None:
    config = parse("--port", "9123", "--db", str(tmp_path / "x.sqlite3"))
    assert config.issuer == "http://127.0.0.1:9123"
    assert config.token_audience == config.issuer
    assert config.db_path == str(tmp_path / "x.sqlite3")
    assert parse("--host", "::1", "--port", "9").issuer == "http://[::1]:9"


def test_config_survives_the_trip_to_worker_processes(tmp_path: Path) -> None:
    config = parse("--signing-alg", "ES256", "--audit-log", str(tmp_path / "a"), "--max-inflight", "7")
    assert TargetConfig.from_env(config.to_env()) == config


def test_nonsense_counts_are_input_errors() -> None:
    with pytest.raises(InputError):
        parse("--workers", "0")
    for option in ("--header-timeout-s", "--body-timeout-s"):
        with pytest.raises(InputError):
            parse(option, "0")
    with pytest.raises(InputError):
        parse("--max-inflight", "0")


def test_prepare_seeds_the_client_and_drops_the_secret_from_the_environment(tmp_path: Path) -> None:
    config = parse("--db", str(tmp_path / "x.sqlite3"))
    env = {Env.CLIENT_ID: "svc", Env.CLIENT_SECRET: "s3cret", Env.RESOURCE_SERVER_ID: "api",
           Env.RESOURCE_SERVER_SECRET: "api-s3cret"}
    assert prepare(config, env) == "svc"
    assert Env.CLIENT_SECRET not in env and Env.RESOURCE_SERVER_SECRET not in env
    store = Store(config.db_path)
    client = store.get_client("svc")
    assert client is not None and client.grant_types == (
        "client_credentials", "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"
    )
    assert client.scopes == ("openid", "profile", "email", "offline_access", "api")
    public = store.get_client("harness-public")
    assert public is not None and not public.is_confidential
    assert store.active_key("RS256") is not None
    api = store.get_client("api")
    assert api is not None and api.resource_server and api.is_confidential and api.grant_types == ()
    assert not client.resource_server
    assert client.first_party and public.first_party  # the operator's own clients: no consent screen
    store.close()


def test_prepare_reports_an_unusable_db_path(tmp_path: Path) -> None:
    config = parse("--db", str(tmp_path / "missing-dir" / "x.sqlite3"))
    with pytest.raises(InfrastructureError):
        prepare(config, {})


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/authorize?code=abc&client_secret=x", "1.1", 200), None,
    )
    assert DropQueryString().filter(record)
    assert "abc" not in record.getMessage() and "/authorize" in record.getMessage()
