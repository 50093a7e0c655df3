"""The target's settings as one frozen value, and its round trip through the environment so that uvicorn's
worker processes (which import the app by name) build exactly the app the parent was asked for."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

SigningAlg = Literal["RS256", "ES256"]

# One variable holding JSON, not one per field: a worker either gets the whole config or fails loudly.
CONFIG_ENV = "HARNESS_TARGET_CONFIG"


@dataclass(frozen=True)
class TargetConfig:
    db_path: str
    issuer: str
    signing_alg: SigningAlg = "RS256"
    audience: str | None = None
    """`aud` of access tokens; the issuer when not set."""
    access_token_ttl_s: int = 3600
    audit_log: str | None = None
    max_inflight: int = 512
    audit_flush_interval_s: float = 1.0

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    def url(self, path: str) -> str:
        """An absolute URL of one of our endpoints; `path` starts with '/'."""
        return self.issuer.rstrip("/") + path

    def to_env(self) -> dict[str, str]:
        return {CONFIG_ENV: json.dumps(asdict(self))}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TargetConfig:
        env = os.environ if environ is None else environ
        raw = env.get(CONFIG_ENV)
        if not raw:
            raise RuntimeError(f"{CONFIG_ENV} is not set; start the target with `harness target`")
        return cls(**json.loads(raw))


def default_issuer(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"http://{host}:{port}"
