"""The target's settings as one frozen value, and its round trip through the environment so that uvicorn's
worker processes (which import the app by name) build exactly the app the parent was asked for."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

from harness.contract import Env

SigningAlg = Literal["RS256", "ES256"]

# One variable holding JSON (Env.TARGET_CONFIG), not one per field: a worker gets the whole config or
# fails loudly.


@dataclass(frozen=True)
class TargetConfig:
    db_path: str
    issuer: str
    signing_alg: SigningAlg = "RS256"
    audience: str | None = None
    """`aud` of access tokens; the issuer when not set."""
    access_token_ttl_s: int = 3600
    audit_log: str | None = None
    request_log: str | None = None
    """One JSON line per HTTP request (requestlog.py); none when not set."""
    max_inflight: int = 512
    audit_flush_interval_s: float = 1.0
    id_token_ttl_s: int = 3600
    refresh_token_ttl_s: int = 30 * 24 * 3600
    auth_code_ttl_s: int = 60
    session_ttl_s: int = 8 * 3600
    consent_ttl_s: int = 600
    """How long a consent screen may wait for the user's answer."""
    device_interval_s: int = 1
    """RFC 8628 polling interval handed out (AWS uses 1 s); 0 turns slow_down off."""
    device_expires_s: int = 600
    user_code_attempts_burst: int = 20
    user_code_attempts_per_min: float = 10.0
    """Failed user-code attempts on the device page per client address and worker (RFC 8628 section 5.1):
    this many at once, then this many a minute; 429 + Retry-After beyond."""
    role_credentials_ttl_s: int = 3600
    aws_client_secret_ttl_s: int = 90 * 24 * 3600
    rate_limit_per_client: float | None = None
    """Requests per second per client id (token bucket, burst of the same size, per worker)."""
    admin_token_sha256: str | None = None
    """SHA-256 (hex) of the chaos API's bearer token; the chaos API is off when None."""
    control_poll_interval_s: float = 0.2
    """How often each worker checks the shared control row (chaos state, key rotation)."""
    tls: bool = False
    max_body_bytes: int = 16 * 1024
    """Largest request body (413 beyond, while it is read): a form or a small JSON object is all we take."""
    max_url_bytes: int = 8 * 1024
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    """Request head limits (414 for the URL, 431 for the headers), enforced as the bytes arrive."""
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    """A request head must arrive within this of its first byte (or of the connection), a body within this
    of its head; 408 and a closed connection otherwise."""

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    def url(self, path: str) -> str:
        """An absolute URL of one of our endpoints; `path` starts with '/'."""
        return self.issuer.rstrip("/") + path

    def to_env(self) -> dict[str, str]:
        return {Env.TARGET_CONFIG: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TargetConfig:
        env = os.environ if environ is None else environ
        raw = env.get(Env.TARGET_CONFIG)
        if not raw:
            raise RuntimeError(f"{Env.TARGET_CONFIG} is not set; start the target with `harness target`")
        return cls(**json.loads(raw))


def default_issuer(host: str, port: int, *, scheme: str = "http") -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"{scheme}://{host}:{port}"
