"""The target's directory: who may ask it for tokens. Today one confidential client seeded from the
environment; users, accounts and roles (for the PKCE, device and AWS flows) will be seeded here too."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from harness.target.credentials import hash_secret
from harness.target.store import Store

CLIENT_ID_ENV = "HARNESS_CLIENT_ID"
CLIENT_SECRET_ENV = "HARNESS_CLIENT_SECRET"  # by environment, never argv: argv is world-readable in ps
DEFAULT_CLIENT_SCOPES: tuple[str, ...] = ("openid", "profile", "api")
DEFAULT_CLIENT_GRANTS: tuple[str, ...] = ("client_credentials",)
SCOPES_SUPPORTED: tuple[str, ...] = DEFAULT_CLIENT_SCOPES


def seed_client(
    store: Store,
    client_id: str,
    secret: str,
    *,
    scopes: Iterable[str] = DEFAULT_CLIENT_SCOPES,
    grant_types: Iterable[str] = DEFAULT_CLIENT_GRANTS,
    now: float | None = None,
) -> None:
    """Create or update a confidential client; only the secret's hash is stored."""
    store.upsert_client(
        client_id,
        secret_sha256=hash_secret(secret),
        scopes=scopes,
        grant_types=grant_types,
        now=int(time.time() if now is None else now),
    )


def seed_from_env(store: Store, environ: Mapping[str, str]) -> str | None:
    """Seed the client named by HARNESS_CLIENT_ID/HARNESS_CLIENT_SECRET; return its id, or None."""
    client_id = environ.get(CLIENT_ID_ENV)
    secret = environ.get(CLIENT_SECRET_ENV)
    if not client_id or not secret:
        return None
    seed_client(store, client_id, secret)
    return client_id
