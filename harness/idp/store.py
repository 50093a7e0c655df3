"""SQLite persistence shared by every server process: connections, and the queries of clients, issued
tokens, signing keys and the shared control row. The schema of every table is in schema.py; the queries
of the directory and of the flows' short-lived state are in directory.py and flowstore.py.

WAL mode lets readers run beside the one writer, so several uvicorn workers (and a restarted server) see
the same rows. The file and its WAL hold private signing keys: they are created 0600 (files.py).
`synchronous=OFF`: SQLite never fsyncs. A commit is in the kernel's page cache once `execute` returns, so
it survives the process (a killed or crashed target restarts with every token, revocation and key, which
the crash-restart fault relies on); only an OS crash or power cut during a checkpoint could lose or
damage the file, and that ends the run using it anyway. NORMAL fsynced at each WAL checkpoint, on the
event loop: about every thousand tokens a worker stalled, and the token endpoint made 4% fewer tokens a
second (6 of 6 interleaved wrk rounds, 2 workers, issue 22) for a durability no run can use. (The peer
in `make bench`, oidc-provider, keeps its tokens in memory.) A token insert is tens of microseconds.
Each thread gets its own connection (and a second one for token inserts, which does not sleep on a busy
lock: see PROMPT_PAUSES_S); writes are single statements or short `BEGIN IMMEDIATE` transactions so no
process holds the write lock for long.
"""

from __future__ import annotations

import collections
import itertools
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from harness.idp import schema
from harness.idp.files import ensure_private, tighten

BUSY_TIMEOUT_MS = 5000
# SQLite's busy handler (busy_timeout) sleeps 1 ms at the first conflict, then 2, 5, 10...; the write lock it
# waits for is held for tens of microseconds. With two workers each inserting a thousand tokens a second,
# 2-3% of inserts met the other worker's lock, and each of those put the worker to sleep for a millisecond:
# 3% of its time idle (issue 22, measured per insert). A standalone insert on the token path therefore goes
# through a connection that does not wait (timeout 0) and retries itself after these pauses (the last one
# repeats), within the same BUSY_TIMEOUT_MS. SQLite offers no shorter sleep, and Python's sqlite3 no busy
# handler of one's own.
PROMPT_PAUSES_S = (0.0, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3)
# How many connections this process holds to each path. POSIX record locks belong to a process and a file:
# closing *any* descriptor of the database, its -wal or its -shm drops every lock SQLite holds on it through
# its own descriptors (the -shm lock that says "this WAL is in use", the read marks). Another process may
# then reset the WAL under our open connections: their writes vanish, then "disk I/O error". So this
# process opens those files itself (_private_files) only while it has no connection to them.
_open_paths: collections.Counter[str] = collections.Counter()
_open_lock = threading.Lock()


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    secret_sha256: bytes | None
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    client_name: str = ""
    secret_expires_at: int = 0
    resource_server: bool = False
    first_party: bool = False

    @property
    def is_confidential(self) -> bool:
        return self.secret_sha256 is not None

    def secret_expired(self, now: float) -> bool:
        """True once a registration with an expiring secret has lapsed (0: never expires)."""
        return 0 < self.secret_expires_at <= now


@dataclass(frozen=True)
class TokenRecord:
    jti: str
    kind: str
    client_id: str
    sub: str
    scope: str
    issued_at: int
    expires_at: int
    revoked: bool
    family: str | None = None


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    alg: str
    private_pem: bytes
    created_at: int
    active: bool
    activates_at: int | None = None


class Store:
    """One SQLite file; a connection per thread, opened on first use."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # -- connections -------------------------------------------------------------------------------------

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @property
    def _prompt_conn(self) -> sqlite3.Connection:
        """This thread's second connection, which never waits on a lock (see PROMPT_PAUSES_S)."""
        conn: sqlite3.Connection | None = getattr(self._local, "prompt", None)
        if conn is None:
            conn = self._connect(busy_timeout_ms=0)
            self._local.prompt = conn
        return conn

    def _write_promptly(self, sql: str, params: tuple[object, ...]) -> None:
        """One statement in its own transaction, retried after microseconds, not SQLite's milliseconds,
        while another process holds the write lock. Inside a transaction of this thread's connection it
        joins that transaction instead (its atomicity comes first)."""
        if self._conn.in_transaction:
            self._conn.execute(sql, params)
            return
        conn = self._prompt_conn
        deadline = 0.0
        for attempt in itertools.count():
            try:
                conn.execute(sql, params)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                now = time.monotonic()
                if attempt == 0:
                    deadline = now + BUSY_TIMEOUT_MS / 1000
                elif now >= deadline:
                    raise
                time.sleep(PROMPT_PAUSES_S[min(attempt, len(PROMPT_PAUSES_S) - 1)])

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, for the query modules of other tables (directory, flowstore)."""
        return self._conn

    def _connect(self, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
        # isolation_level=None: autocommit, so a single INSERT is its own short transaction and multi-step
        # writes say `BEGIN IMMEDIATE` themselves. check_same_thread=False only so that close() may run on
        # another thread; each connection is still used by the thread that opened it.
        # `timeout` is SQLite's busy_timeout, set before anything else: switching to WAL needs a lock that
        # another process may briefly hold.
        with _open_lock:
            if not _open_paths[self.path]:
                _private_files(self.path)
            _open_paths[self.path] += 1
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
            )
        except BaseException:
            with _open_lock:
                _open_paths[self.path] -= 1
            raise
        with self._lock:
            self._all.append(conn)  # counted from here on: close() closes it and counts it out
        _enable_wal(conn, self.path)
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
            with _open_lock:
                _open_paths[self.path] -= 1
        self._local = threading.local()

    def initialize(self) -> None:
        """Create the schema if it is missing; safe to run from several processes at once."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            schema.create(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- clients -----------------------------------------------------------------------------------------

    def upsert_client(
        self,
        client_id: str,
        *,
        secret_sha256: bytes | None,
        scopes: Iterable[str],
        grant_types: Iterable[str],
        redirect_uris: Iterable[str] = (),
        now: int,
        client_name: str = "",
        secret_expires_at: int = 0,
        resource_server: bool = False,
        first_party: bool = False,
    ) -> None:
        self._conn.execute(
            """INSERT INTO clients (client_id, secret_sha256, scopes, grant_types, redirect_uris, created_at,
                                    client_name, secret_expires_at, resource_server, first_party)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (client_id) DO UPDATE SET
                 secret_sha256 = excluded.secret_sha256, scopes = excluded.scopes,
                 grant_types = excluded.grant_types, redirect_uris = excluded.redirect_uris,
                 client_name = excluded.client_name, secret_expires_at = excluded.secret_expires_at,
                 resource_server = excluded.resource_server, first_party = excluded.first_party""",
            (client_id, secret_sha256, " ".join(scopes), " ".join(grant_types), " ".join(redirect_uris), now,
             client_name, secret_expires_at, int(resource_server), int(first_party)),
        )

    def get_client(self, client_id: str) -> ClientRecord | None:
        row = self._conn.execute(
            "SELECT client_id, secret_sha256, scopes, grant_types, redirect_uris, client_name, secret_expires_at,"
            " resource_server, first_party FROM clients WHERE client_id = ?",
            (client_id,),
        ).fetchone()
        if row is None:
            return None
        return ClientRecord(
            client_id=row[0],
            secret_sha256=row[1],
            scopes=tuple(row[2].split()),
            grant_types=tuple(row[3].split()),
            redirect_uris=tuple(row[4].split()),
            client_name=row[5],
            secret_expires_at=row[6],
            resource_server=bool(row[7]),
            first_party=bool(row[8]),
        )

    # -- tokens ------------------------------------------------------------------------------------------

    def add_token(
        self,
        *,
        jti: str,
        kind: str,
        client_id: str,
        sub: str,
        scope: str,
        issued_at: int,
        expires_at: int,
        family: str | None = None,
    ) -> None:
        self._write_promptly(
            "INSERT INTO tokens (jti, kind, client_id, sub, scope, issued_at, expires_at, family)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (jti, kind, client_id, sub, scope, issued_at, expires_at, family),
        )

    def get_token(self, jti: str) -> TokenRecord | None:
        row = self._conn.execute(
            "SELECT jti, kind, client_id, sub, scope, issued_at, expires_at, revoked, family"
            " FROM tokens WHERE jti = ?",
            (jti,),
        ).fetchone()
        if row is None:
            return None
        jti, kind, client_id, sub, scope, issued_at, expires_at, revoked, family = row
        return TokenRecord(jti, kind, client_id, sub, scope, issued_at, expires_at, bool(revoked), family)

    def revoke_token(self, jti: str) -> bool:
        cur = self._conn.execute("UPDATE tokens SET revoked = 1 WHERE jti = ? AND revoked = 0", (jti,))
        return cur.rowcount > 0

    def count_tokens(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM tokens").fetchone()[0])

    # -- signing keys ------------------------------------------------------------------------------------

    def add_key_if_no_active(self, *, kid: str, alg: str, private_pem: bytes, now: int) -> KeyRecord:
        """Store `kid` as the active key for `alg` unless one exists; return whichever is active."""
        self._conn.execute(
            "INSERT OR IGNORE INTO signing_keys (kid, alg, private_pem, created_at, active)"
            " VALUES (?, ?, ?, ?, 1)",
            (kid, alg, private_pem, now),
        )
        active = self.active_key(alg)
        if active is None:  # only if someone retired it between the two statements
            raise RuntimeError(f"no active {alg} signing key after insert")
        return active

    def active_key(self, alg: str) -> KeyRecord | None:
        row = self._conn.execute(
            "SELECT kid, alg, private_pem, created_at, active FROM signing_keys WHERE alg = ? AND active = 1",
            (alg,),
        ).fetchone()
        return None if row is None else KeyRecord(row[0], row[1], row[2], row[3], bool(row[4]))

    def published_keys(self, *, retired_since: int | None = None) -> list[KeyRecord]:
        """Every key a verifier may still meet, oldest first: active, pending (published before it signs)
        and retired ones (all of them, or those retired at or after `retired_since`)."""
        rows = self._conn.execute(
            "SELECT kid, alg, private_pem, created_at, active, activates_at FROM signing_keys"
            " WHERE active = 1 OR retired_at IS NULL OR retired_at >= ? ORDER BY created_at, kid",
            (-1 if retired_since is None else retired_since,),
        ).fetchall()
        return [KeyRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]

    def add_pending_key(self, *, kid: str, alg: str, private_pem: bytes, now: int, activates_at: int) -> None:
        """Publish a key that starts signing at `activates_at` (see `promote_due_keys`)."""
        self._conn.execute(
            "INSERT INTO signing_keys (kid, alg, private_pem, created_at, active, activates_at)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            (kid, alg, private_pem, now, activates_at),
        )

    def promote_due_keys(self, now: int) -> bool:
        """Make each due pending key the signer of its algorithm and retire the one it replaces; True if
        anything changed. Safe to run from every worker: the first one does the work."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            due = conn.execute(
                "SELECT kid, alg FROM signing_keys WHERE active = 0 AND retired_at IS NULL"
                " AND activates_at IS NOT NULL AND activates_at <= ? ORDER BY activates_at, kid",
                (now,),
            ).fetchall()
            for kid, alg in due:
                conn.execute(
                    "UPDATE signing_keys SET active = 0, retired_at = ? WHERE alg = ? AND active = 1", (now, alg)
                )
                conn.execute("UPDATE signing_keys SET active = 1, activates_at = NULL WHERE kid = ?", (kid,))
            if due:
                conn.execute("UPDATE control SET generation = generation + 1 WHERE id = 1")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return bool(due)

    def next_activation(self) -> int | None:
        row = self._conn.execute(
            "SELECT min(activates_at) FROM signing_keys WHERE active = 0 AND retired_at IS NULL"
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # -- shared control state (chaos) --------------------------------------------------------------------

    def control(self) -> tuple[int, str]:
        row = self._conn.execute("SELECT generation, chaos FROM control WHERE id = 1").fetchone()
        return (0, "{}") if row is None else (int(row[0]), str(row[1]))

    def set_chaos(self, chaos_json: str) -> None:
        self._conn.execute("UPDATE control SET chaos = ?, generation = generation + 1 WHERE id = 1", (chaos_json,))

    def bump_generation(self) -> None:
        self._conn.execute("UPDATE control SET generation = generation + 1 WHERE id = 1")


def _private_files(path: str) -> None:
    """The database file 0600 before SQLite opens it: SQLite creates its -wal and -shm files with the mode of
    the database file, so they follow. Ones an earlier version left readable by others are tightened."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        ensure_private(path)
    except OSError as exc:  # as SQLite itself would report it, so callers handle one kind of error
        raise sqlite3.OperationalError(f"unable to open database file: {exc}") from exc
    for suffix in ("-wal", "-shm"):
        try:
            fd = os.open(path + suffix, os.O_RDONLY)
        except OSError:
            continue  # not there yet: SQLite will create it like the database file
        try:
            tighten(fd)
        finally:
            os.close(fd)


def _enable_wal(conn: sqlite3.Connection, path: str) -> None:
    """Switch the file to WAL (a no-op once it is). Several processes opening a new file at once can make
    the switch fail with "database is locked" *without* waiting on busy_timeout (SQLite reports the lock
    upgrade deadlock at once), so retry with backoff for as long as busy_timeout would have waited."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay_s = 0.002
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay_s > deadline:
                raise
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 0.1)
    if mode.lower() != "wal":
        raise sqlite3.OperationalError(f"{path}: cannot switch to WAL (journal_mode is {mode})")
