from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from harness.idp.credentials import hash_secret
from harness.idp.keys import KeyRing
from harness.idp.store import Store


def open_store(path: Path) -> Store:
    store = Store(str(path))
    store.initialize()
    return store


def test_uses_wal_so_several_processes_can_share_the_file(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite3")
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF: see the module's docstring
    store.close()


def test_a_token_outlives_the_process_that_wrote_it_even_when_killed(tmp_path: Path) -> None:
    """Without fsync, a commit is still in the kernel once it returns: a target killed with SIGKILL (the
    crash-restart fault) comes back knowing every token it issued."""
    path = tmp_path / "s.sqlite3"
    open_store(path).close()
    writer = (
        "import os, signal, sys\n"
        "from harness.idp.store import Store\n"
        "store = Store(sys.argv[1])\n"
        "for i in range(500):\n"
        "    store.add_token(jti=f't{i}', kind='access', client_id='c', sub='u', scope='api', issued_at=1,"
        " expires_at=2)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", writer, str(path)], timeout=60)
    assert done.returncode == -signal.SIGKILL
    store = open_store(path)
    assert store.count_tokens() == 500
    assert store.get_token("t499") is not None
    store.close()


def test_writes_stay_visible_to_other_processes_when_a_second_connection_opens(tmp_path: Path) -> None:
    """A token insert uses a second connection (one that does not sleep on a busy lock), opened while the
    first holds its locks. Opening it must not touch the files in a way that drops the first one's POSIX
    locks: another process would then reset the WAL, and later inserts would vanish from its view."""
    path = tmp_path / "s.sqlite3"
    store = open_store(path)
    count = (
        "import sqlite3, sys\n"
        "print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM tokens').fetchone()[0])"
    )
    seen = []
    for i in range(3):
        store.add_token(jti=f"t{i}", kind="access", client_id="c", sub="u", scope="api", issued_at=1, expires_at=2)
        out = subprocess.run([sys.executable, "-c", count, str(path)], capture_output=True, text=True, timeout=60)
        seen.append(out.stdout.strip() or out.stderr.strip()[-200:])
    assert seen == ["1", "2", "3"]
    store.close()


def test_initialize_is_idempotent(tmp_path: Path) -> None:
    a = open_store(tmp_path / "s.sqlite3")
    a.initialize()
    b = open_store(tmp_path / "s.sqlite3")
    assert b.count_tokens() == 0
    a.close()
    b.close()


def test_client_written_by_one_connection_is_read_by_another(tmp_path: Path) -> None:
    writer, reader = open_store(tmp_path / "s.sqlite3"), open_store(tmp_path / "s.sqlite3")
    writer.upsert_client(
        "c1",
        secret_sha256=hash_secret("s"),
        scopes=["openid", "api"],
        grant_types=["client_credentials"],
        now=1,
    )
    client = reader.get_client("c1")
    assert client is not None
    assert client.scopes == ("openid", "api")
    assert client.grant_types == ("client_credentials",)
    assert client.secret_sha256 == hash_secret("s")
    assert client.is_confidential
    assert reader.get_client("nobody") is None
    writer.close()
    reader.close()


def test_upsert_replaces_secret_and_scopes(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.sqlite3")
    store.upsert_client("c1", secret_sha256=hash_secret("old"), scopes=["a"], grant_types=[], now=1)
    store.upsert_client("c1", secret_sha256=hash_secret("new"), scopes=["b"], grant_types=[], now=2)
    client = store.get_client("c1")
    assert client is not None and client.secret_sha256 == hash_secret("new") and client.scopes == ("b",)
    store.close()


def test_tokens_are_shared_and_revocable(tmp_path: Path) -> None:
    a, b = open_store(tmp_path / "s.sqlite3"), open_store(tmp_path / "s.sqlite3")
    a.add_token(jti="j1", kind="access", client_id="c1", sub="c1", scope="api", issued_at=10, expires_at=70)
    token = b.get_token("j1")
    assert token is not None
    assert (token.client_id, token.scope, token.issued_at, token.expires_at, token.revoked) == (
        "c1", "api", 10, 70, False,
    )
    assert b.revoke_token("j1")
    assert not b.revoke_token("j1")  # already revoked
    revoked = a.get_token("j1")
    assert revoked is not None and revoked.revoked
    assert a.get_token("missing") is None
    a.close()
    b.close()


def test_only_the_first_active_key_per_alg_is_kept(tmp_path: Path) -> None:
    a, b = open_store(tmp_path / "s.sqlite3"), open_store(tmp_path / "s.sqlite3")
    first = a.add_key_if_no_active(kid="k1", alg="RS256", private_pem=b"pem1", now=1)
    second = b.add_key_if_no_active(kid="k2", alg="RS256", private_pem=b"pem2", now=2)
    assert first.kid == second.kid == "k1"
    other_alg = b.add_key_if_no_active(kid="k3", alg="ES256", private_pem=b"pem3", now=3)
    assert other_alg.kid == "k3"
    assert [k.kid for k in a.published_keys()] == ["k1", "k3"]
    a.close()
    b.close()


def test_concurrent_first_start_creates_one_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    open_store(path).close()
    kids: list[str] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        store = Store(str(path))
        barrier.wait()
        kids.append(KeyRing.load(store, "ES256").signer.kid)
        store.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(kids) == 4 and len(set(kids)) == 1
    store = open_store(path)
    assert len(store.published_keys()) == 1
    store.close()


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        """CREATE TABLE clients (client_id TEXT PRIMARY KEY, secret_sha256 BLOB, scopes TEXT NOT NULL DEFAULT '',
             grant_types TEXT NOT NULL DEFAULT '', redirect_uris TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);
           CREATE TABLE tokens (jti TEXT PRIMARY KEY, kind TEXT NOT NULL DEFAULT 'access', client_id TEXT NOT NULL,
             sub TEXT NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
             revoked INTEGER NOT NULL DEFAULT 0);
           CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_pem BLOB NOT NULL,
             created_at INTEGER NOT NULL, active INTEGER NOT NULL DEFAULT 1, retired_at INTEGER);
           CREATE TABLE sessions (session_sha256 BLOB PRIMARY KEY, sub TEXT NOT NULL, auth_time INTEGER NOT NULL,
             expires_at INTEGER NOT NULL);
           CREATE TABLE auth_codes (code_sha256 BLOB PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
             sub TEXT NOT NULL, scope TEXT NOT NULL, nonce TEXT, code_challenge TEXT NOT NULL,
             auth_time INTEGER NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0,
             family TEXT NOT NULL);
           INSERT INTO clients VALUES ('old', NULL, 'api', 'client_credentials', '', 1);
           INSERT INTO tokens VALUES ('j1', 'access', 'old', 'old', 'api', 1, 2, 0);"""
    )
    conn.close()
    store = open_store(path)
    client = store.get_client("old")
    assert client is not None and client.client_name == "" and client.secret_expires_at == 0
    assert not client.resource_server and not client.first_party
    token = store.get_token("j1")
    assert token is not None and token.family is None
    assert store.control() == (0, "{}")
    for table in ("sessions", "auth_codes"):  # version 3: logout finds a session's logins by sid
        assert "sid" in {row[1] for row in store.conn.execute(f"PRAGMA table_info({table})")}
    store.close()
