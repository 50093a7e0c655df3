"""The last line of defence against leaks: scan a finished run directory for every secret value the run
handled and for anything shaped like a credential. Redaction happens at the source (no record field,
log line or journal entry carries a secret); this scan proves it, and fails the run loudly if not.

Secrets the orchestrator never holds (refresh tokens, device and user codes, AWS role credentials, the
client secrets RegisterClient hands out) are found by what they look like where they would leak: the
value after their name in JSON, a form, a query or a repr (`"refreshToken": "..."`, `user_code=...`),
and the embedded target's own opaque forms (`rt.`, `dc.`, `cs.`, `harness-session/`) anywhere.

Parquet shards are compressed, so their text columns are read and scanned as values, not as bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def _named(names: str, value: str) -> str:
    """A value right after one of `names` (JSON, form, query string, header or repr: `name": "v`,
    `name=v`, `'name': 'v'`), names matched whole and in any case."""
    return rf"""(?i)(?<![A-Za-z0-9_])(?:{names})["']?\s*[:=]\s*["']?{value}"""


_TOKEN_CHARS = r"[A-Za-z0-9._~+/=-]"
# Shapes that must never appear in a report, whatever their value.
PATTERNS: dict[str, re.Pattern[str]] = {
    "JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "private JWK": re.compile(r'"d"\s*:\s*"[A-Za-z0-9_-]{20,}"'),
    "bearer header": re.compile(r"(?i)authorization:\s*(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    "refresh token": re.compile(_named("refresh_token|refreshToken", f"{_TOKEN_CHARS}{{12,}}")
                                + r"|(?<![A-Za-z0-9_-])rt\.[A-Za-z0-9_-]{32,}"),
    "device code": re.compile(_named("device_code|deviceCode", f"{_TOKEN_CHARS}{{12,}}")
                              + r"|(?<![A-Za-z0-9_-])dc\.[A-Za-z0-9_-]{32,}"),
    "user code": re.compile(_named("user_code|userCode", r"[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}(?![A-Za-z0-9])")),
    "client secret": re.compile(_named("client_secret|clientSecret", f"{_TOKEN_CHARS}{{12,}}")
                                + r"|(?<![A-Za-z0-9_-])cs\.[A-Za-z0-9_-]{40,}"),
    "AWS secret access key": re.compile(_named("secret_?access_?key|aws_secret_access_key",
                                               r"[A-Za-z0-9/+_-]{40}(?![A-Za-z0-9/+_-])")),
    "AWS session token": re.compile(_named("session_?token|aws_session_token", f"{_TOKEN_CHARS}{{16,}}")
                                    + r"|harness-session/[A-Za-z0-9_-]{32,}"),
}


@dataclass(frozen=True)
class Leak:
    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def scan_run_dir(run_dir: Path, values: Iterable[str]) -> list[Leak]:
    needles = [v for v in values if v and len(v) >= 8]
    leaks: list[Leak] = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(run_dir))
        texts = _parquet_texts(path) if path.suffix == ".parquet" else [path.read_bytes().decode("utf-8", "replace")]
        for text in texts:
            leaks.extend(Leak(rel, "a secret value the run handled") for n in needles if n in text)
            leaks.extend(Leak(rel, f"something shaped like a {name}") for name, rx in PATTERNS.items() if rx.search(text))  # noqa: E501
    return sorted(set(leaks), key=str)


def _parquet_texts(path: Path) -> list[str]:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        return [path.read_bytes().decode("utf-8", "replace")]
    texts = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            texts.append("\n".join(v for v in pc.unique(column).to_pylist() if v))
    return texts
