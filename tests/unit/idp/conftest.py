from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from harness.idp.app import create_app
from harness.idp.config import TargetConfig
from harness.idp.directory import seed_client
from harness.idp.store import Store

ISSUER = "http://target.test"
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
    store.close()


@pytest.fixture
def http(config: TargetConfig) -> Iterator[TestClient]:
    """The app with its lifespan running and two clients seeded."""
    seed(config)
    with TestClient(create_app(config), base_url=ISSUER) as client:
        yield client
