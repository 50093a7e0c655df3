"""Short-lived state of the user flows, in the shared store: authorization codes, device codes, refresh
tokens and browser sessions. Every secret value is stored as its SHA-256 (a database dump yields no
usable code or token); single use is one conditional UPDATE, so two workers racing on a code cannot both
win."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from harness.idp.store import Store

# RFC 8628 section 6.1: a base-20 alphabet without vowels, 8 characters shown as XXXX-XXXX.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


def new_user_code() -> str:
    chars = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalize_user_code(raw: str) -> str:
    chars = "".join(c for c in raw.upper() if c.isalnum())[:16]
    return f"{chars[:4]}-{chars[4:]}" if len(chars) == 8 else chars


@dataclass(frozen=True)
class AuthCode:
    client_id: str
    redirect_uri: str
    sub: str
    scope: str
    nonce: str | None
    code_challenge: str
    auth_time: int
    expires_at: int
    used: bool
    family: str
    sid: str | None = None  # the browser session it was issued in


@dataclass(frozen=True)
class DeviceCode:
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval_s: int
    last_poll: float | None
    status: str
    sub: str | None
    auth_time: int | None


@dataclass(frozen=True)
class RefreshToken:
    family: str
    client_id: str
    sub: str
    scope: str
    auth_time: int
    issued_at: int
    expires_at: int
    used: bool
    revoked: bool


class FlowStore:
    def __init__(self, store: Store):
        self._store = store

    # -- authorization codes -----------------------------------------------------------------------------

    def add_code(self, code: str, c: AuthCode) -> None:
        self._store.conn.execute(
            "INSERT INTO auth_codes (code_sha256, client_id, redirect_uri, sub, scope, nonce, code_challenge,"
            " auth_time, expires_at, used, family, sid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            (digest(code), c.client_id, c.redirect_uri, c.sub, c.scope, c.nonce, c.code_challenge, c.auth_time,
             c.expires_at, c.family, c.sid),
        )

    def get_code(self, code: str) -> AuthCode | None:
        row = self._store.conn.execute(
            "SELECT client_id, redirect_uri, sub, scope, nonce, code_challenge, auth_time, expires_at, used, family,"
            " sid FROM auth_codes WHERE code_sha256 = ?",
            (digest(code),),
        ).fetchone()
        if row is None:
            return None
        client_id, redirect_uri, sub, scope, nonce, challenge, auth_time, expires_at, used, family, sid = row
        return AuthCode(
            client_id, redirect_uri, sub, scope, nonce, challenge, auth_time, expires_at, bool(used), family, sid
        )

    def use_code(self, code: str) -> bool:
        """Mark the code used; False if it already was (a replay)."""
        cur = self._store.conn.execute(
            "UPDATE auth_codes SET used = 1 WHERE code_sha256 = ? AND used = 0", (digest(code),)
        )
        return cur.rowcount == 1

    # -- device codes ------------------------------------------------------------------------------------

    def add_device_code(self, device_code: str, d: DeviceCode) -> None:
        self._store.conn.execute(
            "INSERT INTO device_codes (device_sha256, user_code, client_id, scope, expires_at, interval_s)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (digest(device_code), d.user_code, d.client_id, d.scope, d.expires_at, d.interval_s),
        )

    def get_device_code(self, device_code: str) -> DeviceCode | None:
        return self._device("device_sha256 = ?", digest(device_code))

    def get_by_user_code(self, user_code: str) -> DeviceCode | None:
        return self._device("user_code = ?", user_code)

    def _device(self, where: str, key: object) -> DeviceCode | None:
        row = self._store.conn.execute(
            "SELECT user_code, client_id, scope, expires_at, interval_s, last_poll, status, sub, auth_time"
            f" FROM device_codes WHERE {where}",
            (key,),
        ).fetchone()
        return None if row is None else DeviceCode(*row)

    def record_poll(self, device_code: str, now: float, *, slow_down: bool) -> None:
        self._store.conn.execute(
            "UPDATE device_codes SET last_poll = ?, interval_s = interval_s + ? WHERE device_sha256 = ?",
            (now, 5 if slow_down else 0, digest(device_code)),
        )

    def decide_device(self, user_code: str, *, sub: str, approve: bool, auth_time: int) -> bool:
        """Approve or deny a pending code; False if it was not pending."""
        cur = self._store.conn.execute(
            "UPDATE device_codes SET status = ?, sub = ?, auth_time = ? WHERE user_code = ? AND status = 'pending'",
            ("approved" if approve else "denied", sub, auth_time, user_code),
        )
        return cur.rowcount == 1

    def use_device_code(self, device_code: str) -> bool:
        cur = self._store.conn.execute(
            "UPDATE device_codes SET status = 'used' WHERE device_sha256 = ? AND status = 'approved'",
            (digest(device_code),),
        )
        return cur.rowcount == 1

    # -- refresh tokens ----------------------------------------------------------------------------------

    def add_refresh(self, token: str, r: RefreshToken) -> None:
        self._store.conn.execute(
            "INSERT INTO refresh_tokens (token_sha256, family, client_id, sub, scope, auth_time, issued_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (digest(token), r.family, r.client_id, r.sub, r.scope, r.auth_time, r.issued_at, r.expires_at),
        )

    def get_refresh(self, token: str) -> RefreshToken | None:
        row = self._store.conn.execute(
            "SELECT family, client_id, sub, scope, auth_time, issued_at, expires_at, used, revoked"
            " FROM refresh_tokens WHERE token_sha256 = ?",
            (digest(token),),
        ).fetchone()
        if row is None:
            return None
        family, client_id, sub, scope, auth_time, issued_at, expires_at, used, revoked = row
        return RefreshToken(family, client_id, sub, scope, auth_time, issued_at, expires_at, bool(used), bool(revoked))

    def use_refresh(self, token: str) -> bool:
        cur = self._store.conn.execute(
            "UPDATE refresh_tokens SET used = 1 WHERE token_sha256 = ? AND used = 0 AND revoked = 0",
            (digest(token),),
        )
        return cur.rowcount == 1

    def revoke_family(self, family: str) -> None:
        """Revoke every refresh and access token descending from one login (reuse detection, logout)."""
        conn = self._store.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE refresh_tokens SET revoked = 1 WHERE family = ?", (family,))
            conn.execute("UPDATE tokens SET revoked = 1 WHERE family = ?", (family,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- consent tickets ---------------------------------------------------------------------------------

    def add_consent(self, ticket: str, *, session_id: str, request_json: str, expires_at: int) -> None:
        self._store.conn.execute(
            "INSERT INTO consents (ticket_sha256, session_sha256, request, expires_at) VALUES (?, ?, ?, ?)",
            (digest(ticket), digest(session_id), request_json, expires_at),
        )

    def take_consent(self, ticket: str, *, session_id: str, now: float) -> str | None:
        """The request JSON of a live, unused ticket shown to this session, marked used; None otherwise
        (used, expired, unknown, or shown to another browser)."""
        conn = self._store.conn
        cur = conn.execute(
            "UPDATE consents SET used = 1 WHERE ticket_sha256 = ? AND session_sha256 = ? AND used = 0"
            " AND expires_at > ?",
            (digest(ticket), digest(session_id), now),
        )
        if cur.rowcount != 1:
            return None
        row = conn.execute("SELECT request FROM consents WHERE ticket_sha256 = ?", (digest(ticket),)).fetchone()
        return None if row is None else str(row[0])

    # -- browser sessions --------------------------------------------------------------------------------

    def add_session(self, session_id: str, *, sub: str, auth_time: int, expires_at: int, sid: str) -> None:
        self._store.conn.execute(
            "INSERT INTO sessions (session_sha256, sub, auth_time, expires_at, sid) VALUES (?, ?, ?, ?, ?)",
            (digest(session_id), sub, auth_time, expires_at, sid),
        )

    def get_session(self, session_id: str, now: float) -> tuple[str, int, str | None] | None:
        """(sub, auth_time, sid) of a live session."""
        row = self._store.conn.execute(
            "SELECT sub, auth_time, sid FROM sessions WHERE session_sha256 = ? AND expires_at > ?",
            (digest(session_id), now),
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), row[2])

    def end_session(self, session_id: str) -> None:
        self._store.conn.execute("DELETE FROM sessions WHERE session_sha256 = ?", (digest(session_id),))

    def end_login_session(self, sid: str) -> int:
        """Logout: end the session `sid` and revoke the tokens of every login made in it, except the logins
        granted offline_access (OIDC Core 11: meant to outlive the session). Returns how many refresh and
        access tokens were revoked."""
        offline = "instr(' ' || scope || ' ', ' offline_access ') = 0"
        families = f"SELECT family FROM auth_codes WHERE sid = ? AND {offline}"
        conn = self._store.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM sessions WHERE sid = ?", (sid,))
            revoked = conn.execute(
                f"UPDATE refresh_tokens SET revoked = 1 WHERE revoked = 0 AND family IN ({families})", (sid,)
            ).rowcount
            revoked += conn.execute(
                f"UPDATE tokens SET revoked = 1 WHERE revoked = 0 AND family IN ({families})", (sid,)
            ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(revoked)
