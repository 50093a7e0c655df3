"""The target's files hold private signing keys (the SQLite file and its WAL) and security events (the
logs): they are created readable by their owner alone, whatever the umask says."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.idp.config import TargetConfig
from harness.idp.server import prepare
from harness.idp.store import Store


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: new files world-readable
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_and_logs_are_created_0600(tmp_path: Path, loose_umask: None) -> None:
    config = TargetConfig(db_path=str(tmp_path / "t.sqlite3"), issuer="http://t.test",
                          audit_log=str(tmp_path / "audit.jsonl"), request_log=str(tmp_path / "requests.jsonl"))
    prepare(config, {})
    for name in ("t.sqlite3", "audit.jsonl", "requests.jsonl"):
        assert mode(tmp_path / name) == 0o600, name
    store = Store(config.db_path)  # WAL and shared-memory files exist while a connection is open
    store.initialize()
    store.conn.execute("UPDATE control SET generation = generation + 1")
    try:
        for name in ("t.sqlite3-wal", "t.sqlite3-shm"):
            assert mode(tmp_path / name) == 0o600, name
    finally:
        store.close()


def test_an_existing_store_readable_by_others_is_tightened(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "old.sqlite3"
    store = Store(str(path))
    store.initialize()
    store.close()
    path.chmod(0o644)  # as an earlier version left it
    store = Store(str(path))
    store.initialize()
    store.close()
    assert mode(path) == 0o600
