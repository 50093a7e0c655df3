"""Audit log: one JSON line per security-relevant event, in the spirit of CloudTrail.

Events carry identifiers (client_id, jti, scope), never a secret or a token: `emit` refuses field names
that would hold one, so a careless caller fails in tests rather than leaking in production. A user code is
such a secret while it lives (whoever types it first approves the device), so events name it by
`user_code_sha256`, a prefix of its hash (`code_ref`): enough to match the events of one device login.

Lines are buffered and written with one `os.write` per flush on an O_APPEND descriptor, so whole lines
from several worker processes interleave without tearing. The buffer is flushed when it grows, by the
app's periodic task, and at shutdown.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from harness.idp.files import PRIVATE_MODE, tighten

# Set per request by requestid.RequestIdMiddleware; stamped on every event the request causes.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

FORBIDDEN_FIELDS = frozenset(
    {"client_secret", "secret", "password", "access_token", "refresh_token", "id_token", "token", "code",
     "device_code", "user_code", "code_verifier", "authorization", "consent_ticket"}
)
CODE_REF_HEX = 12
FLUSH_BYTES = 64 * 1024


def code_ref(value: str) -> str:
    """A short SHA-256 prefix that names a short-lived secret in the log without giving it away."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:CODE_REF_HEX]


class Audit(Protocol):
    def emit(self, event: str, **fields: object) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class NullAudit:
    """Audit sink used when no `--audit-log` was given."""

    def emit(self, event: str, **fields: object) -> None:
        _check_fields(fields)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class LineFile:
    """An O_APPEND file written in whole lines: buffered, one `os.write` per flush, so several worker
    processes sharing the file never tear each other's lines (the audit log and the request log)."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_MODE)
        tighten(self._fd)
        self._lines: list[bytes] = []
        self._size = 0
        self._lock = threading.Lock()  # sync endpoints run in a thread pool

    def write_bytes(self, line: bytes) -> None:
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            full = self._size >= FLUSH_BYTES
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._lines or self._fd is None:
                return
            view = memoryview(b"".join(self._lines))
            self._lines.clear()
            self._size = 0
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class AuditLog:
    def __init__(self, path: str, *, clock: Callable[[], float] = time.time):
        self.path = path
        self._clock = clock
        self._file = LineFile(path)
        self._pid = os.getpid()

    def emit(self, event: str, **fields: object) -> None:
        _check_fields(fields)
        record = {"ts": round(self._clock(), 6), "event": event, "pid": self._pid, **fields}
        request_id = current_request_id.get()
        if request_id is not None:
            record["request_id"] = request_id
        self._file.write_bytes(json.dumps(record, separators=(",", ":"), default=str).encode("utf-8") + b"\n")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def open_audit(path: str | None) -> Audit:
    return AuditLog(path) if path else NullAudit()


def _check_fields(fields: dict[str, object]) -> None:
    bad = FORBIDDEN_FIELDS.intersection(fields)
    if bad:
        raise ValueError(f"audit events must not carry secrets or tokens: {', '.join(sorted(bad))}")
