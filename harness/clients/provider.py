"""Where each logical endpoint of a provider is. Paths come from the discovery document, never from a
table, so the same flow runs against the embedded target and any standards-compliant provider; for the
embedded target the discovered paths are re-based onto `base_url` (the fault proxy in front of it).
Discovered URLs on hosts that are neither loopback nor allowed are dropped: load never leaves loopback by
accident. AWS endpoints are not in discovery; they live at `aws_base` (the embedded listener by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.clients.caller import Caller
from harness.clients.oauth import json_object
from harness.endpoints import EMBEDDED_PATHS, is_loopback

DISCOVERY_KEYS = {
    "authorization_endpoint": "authorize",
    "token_endpoint": "token",
    "jwks_uri": "jwks",
    "userinfo_endpoint": "userinfo",
    "device_authorization_endpoint": "device_authorization",
    "introspection_endpoint": "introspection",
    "revocation_endpoint": "revocation",
    "end_session_endpoint": "end_session",
}
AWS_ENDPOINTS = ("register_client", "device_authorization", "token", "role_credentials", "list_accounts",
                 "list_account_roles", "logout")


@dataclass
class Provider:
    """One user's view of the provider; discovery is fetched once, on first need, as a recorded step."""

    base_url: str  # where requests go (the proxy, or the issuer of an external provider)
    discovery_url: str
    rebase: bool  # embedded: keep discovered paths, send them to base_url
    allow: frozenset[str] = frozenset()
    aws_base: str | None = None
    issuer: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)

    @classmethod
    def embedded(cls, base_url: str) -> Provider:
        base = base_url.rstrip("/")
        return cls(base, base + EMBEDDED_PATHS["discovery"], rebase=True, aws_base=base)

    @classmethod
    def external(cls, issuer: str, allow: Iterable[str], aws_endpoint: str | None) -> Provider:
        base = issuer.rstrip("/")
        return cls(base, base + "/.well-known/openid-configuration", rebase=False, allow=frozenset(allow),
                   aws_base=aws_endpoint.rstrip("/") if aws_endpoint else None)

    @property
    def discovered(self) -> bool:
        return self.issuer is not None

    def discover(self, caller: Caller, flow: str) -> bool:
        if self.discovered:
            return True
        result = caller.call(flow, "discovery", "GET", self.discovery_url, endpoint="discovery",
                             validate=lambda r: None if json_object(r) and "issuer" in (r.json() or {})
                             else "protocol_error")
        body = result.json() if result.ok else None
        if not isinstance(body, dict):
            return False
        for key, name in DISCOVERY_KEYS.items():
            url = body.get(key)
            if isinstance(url, str) and (where := self._reachable(url)) is not None:
                self.endpoints[name] = where
        self.issuer = str(body["issuer"])
        return True

    def url(self, endpoint: str) -> str | None:
        return self.endpoints.get(endpoint)

    def aws_url(self, endpoint: str) -> str | None:
        if self.aws_base is None or endpoint not in AWS_ENDPOINTS:
            return None
        return self.aws_base + EMBEDDED_PATHS[endpoint]

    def allows(self, url: str) -> bool:
        """Whether load may go to `url`: loopback, or a host the scenario allowed (an external target's
        `allow`). For a flow's calls to an application of its own (Flow.call_url)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        return parts.scheme in ("http", "https") and (is_loopback(host) or host in self.allow)

    def _reachable(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        if self.rebase:
            return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        if is_loopback(parts.hostname) or parts.hostname in self.allow:
            return url
        return None
