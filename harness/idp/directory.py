"""The target's directory: clients, users, AWS accounts and permission sets (roles), seeded at start.

Seeding (all idempotent, so a restart with the same options changes nothing):
- `HARNESS_CLIENT_ID` / `HARNESS_CLIENT_SECRET`: a confidential client allowed every grant
  (client_credentials, authorization_code, refresh_token, device_code) and the loopback redirect URIs.
- `HARNESS_RESOURCE_SERVER_ID` / `HARNESS_RESOURCE_SERVER_SECRET`: a declared resource server (RFC 7662
  section 2.1's protected resource): a confidential client with no grant that may introspect any client's
  access tokens. Every other client learns only about its own tokens.
- `HARNESS_PUBLIC_CLIENT_ID` (default `harness-public`): a public client (no secret; PKCE, refresh and
  device grants), always seeded so that the user flows work with no configuration.
- `HARNESS_REDIRECT_URIS` (space separated, default `http://127.0.0.1/callback`): redirect URIs of both
  seeded clients. Loopback http URIs match on any port (RFC 8252 section 7.3); they also serve as
  `post_logout_redirect_uri`s.
- `--seed-users N`: users `user0001`..`userNNNN` (zero padded to at least 4 digits), each with the
  password `pw-<username>` (the documented rule the load side derives; it is never logged), email
  `<username>@example.test`, sub = username. Every user is assigned every seeded account with every role.
- AWS accounts: SEEDED_ACCOUNTS with roles SEEDED_ROLES each.
The seeded clients are first-party: the operator configured them, so a signed-in user gets a code without
a consent screen (unless the request says `prompt=consent`). AWS RegisterClient creates its own clients at
run time, as AWS does; anyone can, so those are third-party and every login through them asks for consent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.contract import Env, seeded_password, seeded_username
from harness.idp.credentials import hash_secret
from harness.idp.passwords import hash_password
from harness.idp.store import Store

DEFAULT_PUBLIC_CLIENT_ID = "harness-public"
DEFAULT_REDIRECT_URIS: tuple[str, ...] = ("http://127.0.0.1/callback",)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
USER_GRANTS: tuple[str, ...] = ("authorization_code", "refresh_token", DEVICE_GRANT)
SCOPES_SUPPORTED: tuple[str, ...] = ("openid", "profile", "email", "offline_access", "api")
DEFAULT_CLIENT_SCOPES: tuple[str, ...] = ("openid", "profile", "api")
DEFAULT_CLIENT_GRANTS: tuple[str, ...] = ("client_credentials",)
SEEDED_ACCOUNTS: tuple[tuple[str, str], ...] = (
    ("111111111111", "harness-dev"),
    ("222222222222", "harness-staging"),
    ("333333333333", "harness-prod"),
    ("444444444444", "harness-sandbox"),
)
SEEDED_ROLES: tuple[str, ...] = ("AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess")


@dataclass(frozen=True)
class User:
    username: str
    sub: str
    email: str
    password_hash: str


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    email: str


def seed_client(
    store: Store,
    client_id: str,
    secret: str | None,
    *,
    scopes: Iterable[str] = DEFAULT_CLIENT_SCOPES,
    grant_types: Iterable[str] = DEFAULT_CLIENT_GRANTS,
    redirect_uris: Iterable[str] = (),
    now: float | None = None,
    resource_server: bool = False,
    first_party: bool = True,
) -> None:
    """Create or update a client (public when `secret` is None); only the secret's hash is stored. A seeded
    client is the operator's own, hence first-party (no consent screen) unless told otherwise."""
    store.upsert_client(
        client_id,
        secret_sha256=None if secret is None else hash_secret(secret),
        scopes=scopes,
        grant_types=grant_types,
        redirect_uris=redirect_uris,
        now=int(time.time() if now is None else now),
        resource_server=resource_server,
        first_party=first_party,
    )


def seed_from_env(store: Store, environ: Mapping[str, str]) -> str | None:
    """Seed the clients the environment names (see the module docstring); return the confidential id."""
    redirect_uris = tuple(environ.get(Env.REDIRECT_URIS, "").split()) or DEFAULT_REDIRECT_URIS
    public_id = environ.get(Env.PUBLIC_CLIENT_ID) or DEFAULT_PUBLIC_CLIENT_ID
    seed_client(store, public_id, None, grant_types=USER_GRANTS, redirect_uris=redirect_uris, scopes=SCOPES_SUPPORTED)
    api_id, api_secret = environ.get(Env.RESOURCE_SERVER_ID), environ.get(Env.RESOURCE_SERVER_SECRET)
    if api_id and api_secret:
        seed_client(store, api_id, api_secret, scopes=(), grant_types=(), resource_server=True)
    client_id = environ.get(Env.CLIENT_ID)
    secret = environ.get(Env.CLIENT_SECRET)
    if not client_id or not secret:
        return None
    seed_client(
        store, client_id, secret, grant_types=("client_credentials", *USER_GRANTS), redirect_uris=redirect_uris,
        scopes=SCOPES_SUPPORTED,
    )
    return client_id


def seed_directory(store: Store, user_count: int, *, now: float | None = None) -> int:
    """Seed accounts, roles and `user_count` users; return how many users were new."""
    conn = store.conn
    stamp = int(time.time() if now is None else now)
    existing = {row[0] for row in conn.execute("SELECT username FROM users")}
    rows = []
    for i in range(1, user_count + 1):
        name = seeded_username(i, user_count)
        if name not in existing:
            rows.append((name, name, f"{name}@example.test", hash_password(seeded_password(name)), stamp))
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR IGNORE INTO users (username, sub, email, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO accounts (account_id, name, email) VALUES (?, ?, ?)",
            [(aid, name, f"{name}@example.test") for aid, name in SEEDED_ACCOUNTS],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO roles (account_id, role_name) VALUES (?, ?)",
            [(aid, role) for aid, _ in SEEDED_ACCOUNTS for role in SEEDED_ROLES],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(rows)


def get_user(store: Store, name: str) -> User | None:
    row = store.conn.execute(
        "SELECT username, sub, email, password_hash FROM users WHERE username = ?", (name,)
    ).fetchone()
    return None if row is None else User(*row)


def get_user_by_sub(store: Store, sub: str) -> User | None:
    row = store.conn.execute("SELECT username, sub, email, password_hash FROM users WHERE sub = ?", (sub,)).fetchone()
    return None if row is None else User(*row)


def accounts_page(store: Store, offset: int, limit: int) -> list[Account]:
    """Accounts assigned to a user (every user has every account), in a stable order."""
    rows = store.conn.execute(
        "SELECT account_id, name, email FROM accounts ORDER BY account_id LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()
    return [Account(*r) for r in rows]


def account_exists(store: Store, account_id: str) -> bool:
    return store.conn.execute("SELECT 1 FROM accounts WHERE account_id = ?", (account_id,)).fetchone() is not None


def roles_page(store: Store, account_id: str, offset: int, limit: int) -> list[str]:
    rows = store.conn.execute(
        "SELECT role_name FROM roles WHERE account_id = ? ORDER BY role_name LIMIT ? OFFSET ?",
        (account_id, limit, offset),
    ).fetchall()
    return [r[0] for r in rows]


def role_exists(store: Store, account_id: str, role_name: str) -> bool:
    row = store.conn.execute(
        "SELECT 1 FROM roles WHERE account_id = ? AND role_name = ?", (account_id, role_name)
    ).fetchone()
    return row is not None
