"""The store's schema: every table of the target's SQLite file (clients, tokens, signing keys, the directory,
the flows' short-lived state, the shared control row) and the upgrade of older files in place.

A version's new columns are added to existing tables by `ALTER TABLE` (CREATE TABLE IF NOT EXISTS leaves an
existing table alone); new tables and indexes come from the schema itself. Everything runs inside the
caller's `BEGIN IMMEDIATE`, so several processes opening one file at once agree.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id     TEXT PRIMARY KEY,
    secret_sha256 BLOB,                       -- NULL for public clients (PKCE, device flow)
    scopes        TEXT NOT NULL DEFAULT '',   -- space separated
    grant_types   TEXT NOT NULL DEFAULT '',   -- space separated
    redirect_uris TEXT NOT NULL DEFAULT '',   -- space separated
    created_at    INTEGER NOT NULL,
    client_name   TEXT NOT NULL DEFAULT '',
    secret_expires_at INTEGER NOT NULL DEFAULT 0,  -- epoch s; 0: never (RFC 7591)
    resource_server INTEGER NOT NULL DEFAULT 0,   -- 1: may introspect other clients' access tokens
    first_party INTEGER NOT NULL DEFAULT 0        -- 1: configured by the operator, no consent screen
);
CREATE TABLE IF NOT EXISTS tokens (
    jti        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL DEFAULT 'access',  -- access | refresh
    client_id  TEXT NOT NULL,
    sub        TEXT NOT NULL,
    scope      TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    family     TEXT                              -- user grants: the login this token descends from
);
CREATE INDEX IF NOT EXISTS tokens_family ON tokens(family) WHERE family IS NOT NULL;
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    sub           TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,                 -- pbkdf2_sha256$iterations$salt$hash (passwords.py)
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
    account_id TEXT NOT NULL,
    role_name  TEXT NOT NULL,
    PRIMARY KEY (account_id, role_name)
);
CREATE TABLE IF NOT EXISTS auth_codes (
    code_sha256    BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    sub            TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used           INTEGER NOT NULL DEFAULT 0,
    family         TEXT NOT NULL,
    sid            TEXT              -- the browser session that signed in (logout revokes its logins)
);
CREATE INDEX IF NOT EXISTS auth_codes_sid ON auth_codes(sid) WHERE sid IS NOT NULL;
CREATE TABLE IF NOT EXISTS device_codes (
    device_sha256 BLOB PRIMARY KEY,
    user_code     TEXT NOT NULL UNIQUE,
    client_id     TEXT NOT NULL,
    scope         TEXT NOT NULL,
    expires_at    REAL NOT NULL,
    interval_s    INTEGER NOT NULL,
    last_poll     REAL,
    status        TEXT NOT NULL DEFAULT 'pending',  -- pending | approved | denied | used
    sub           TEXT,
    auth_time     INTEGER
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_sha256 BLOB PRIMARY KEY,
    family       TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    sub          TEXT NOT NULL,
    scope        TEXT NOT NULL,
    auth_time    INTEGER NOT NULL,
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used         INTEGER NOT NULL DEFAULT 0,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens(family);
CREATE TABLE IF NOT EXISTS consents (
    ticket_sha256  BLOB PRIMARY KEY,
    session_sha256 BLOB NOT NULL,    -- the browser session that was shown the consent screen
    request        TEXT NOT NULL,    -- the validated authorization request's parameters (JSON)
    expires_at     INTEGER NOT NULL,
    used           INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    session_sha256 BLOB PRIMARY KEY,
    sub            TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    sid            TEXT              -- public session id, the ID tokens' `sid` claim (not the cookie)
);
CREATE INDEX IF NOT EXISTS sessions_sid ON sessions(sid) WHERE sid IS NOT NULL;
-- Settings every worker must share (chaos state); `generation` tells workers to reload it and the keys.
CREATE TABLE IF NOT EXISTS control (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL,
    chaos      TEXT NOT NULL
);
INSERT OR IGNORE INTO control (id, generation, chaos) VALUES (1, 0, '{}');
CREATE TABLE IF NOT EXISTS signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_pem BLOB NOT NULL,   -- PKCS#8, unencrypted: this is a disposable test provider
    created_at  INTEGER NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,  -- 1: signs new tokens; 0: pending (retired_at NULL) or retired
    retired_at  INTEGER,
    activates_at INTEGER                     -- a pending key starts signing then (rotation)
);
-- At most one active key per algorithm. Workers starting together on a new database each generate a key
-- and `INSERT OR IGNORE` it: this index lets exactly one of them win, and all then load the winner.
CREATE UNIQUE INDEX IF NOT EXISTS signing_keys_one_active ON signing_keys(alg) WHERE active = 1;
"""


# Columns added since version 1, in the order they came (2: client_name .. activates_at; 3: the rest).
_ADDED_COLUMNS = {
    "clients": ("client_name TEXT NOT NULL DEFAULT ''", "secret_expires_at INTEGER NOT NULL DEFAULT 0",
                "resource_server INTEGER NOT NULL DEFAULT 0", "first_party INTEGER NOT NULL DEFAULT 0"),
    "tokens": ("family TEXT",),
    "signing_keys": ("activates_at INTEGER",),
    "auth_codes": ("sid TEXT",),
    "sessions": ("sid TEXT",),
}


def _add_columns(conn: sqlite3.Connection) -> None:
    """Bring an older file's tables up to this version (CREATE TABLE IF NOT EXISTS leaves them alone)."""
    for table, columns in _ADDED_COLUMNS.items():
        existing = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not existing:
            continue  # a new file: the schema creates the table whole
        for column in columns:
            if column.split()[0] not in existing:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def create(conn: sqlite3.Connection) -> None:
    """Create what is missing and upgrade what is old; the caller holds the write lock."""
    _add_columns(conn)
    for statement in _split_sql(_SCHEMA):
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _split_sql(script: str) -> list[str]:
    # executescript() would COMMIT our BEGIN IMMEDIATE first, so statements run one by one instead.
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
