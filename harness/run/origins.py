"""The origin map of an external provider (DESIGN.md, "Reaching the SRE's own systems"): read its discovery
document, and put one proxy in front of each upstream origin (scheme, host, port) its endpoints and
`aws_endpoint` are on, for allowed hosts only. `harness run` and `harness run --dry-run` both plan from
here, so what the plan shows is what the run starts.

A discovered URL on a host that is neither loopback nor in `allow` is listed in `outside`: no proxy is made
for it, and the clients never call it (harness.clients.provider drops it too). When discovery cannot be
read (the provider is down, its certificate does not verify), the issuer's origin is still proxied, so the
load's own attempts record what happens; the reason is in `error`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from harness.clients.classify import classify_exception
from harness.clients.provider import AWS_ENDPOINTS, DISCOVERY_KEYS
from harness.clients.transport import Origin, OriginMap, make_session, origin_of, origin_url
from harness.endpoints import EMBEDDED_PATHS, is_loopback
from harness.scenario.model import ExternalTarget

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_TIMEOUT_S = (5.0, 10.0)


@dataclass(frozen=True)
class PlannedOrigin:
    origin: Origin
    upstream: tuple[str, int]  # where the proxy connects: target.resolve applied
    endpoints: tuple[str, ...]  # logical endpoint names on this origin

    @property
    def url(self) -> str:
        return origin_url(self.origin)

    @property
    def tls(self) -> bool:
        return self.origin[0] == "https"

    @property
    def server_name(self) -> str:
        return self.origin[1]


@dataclass
class ProviderMap:
    issuer: str
    endpoints: dict[str, str] = field(default_factory=dict)  # logical name -> URL, allowed hosts only
    origins: list[PlannedOrigin] = field(default_factory=list)  # the issuer's first
    outside: dict[str, str] = field(default_factory=dict)  # name -> URL on a host outside allow
    error: str | None = None  # why discovery could not be read, if it could not

    def path(self, endpoint: str) -> str | None:
        url = self.endpoints.get(endpoint)
        return urlsplit(url).path or "/" if url is not None else None

    def describe(self, listen: str = "127.0.0.1:<a free port at start>") -> list[str]:
        """One line per proxy (listen -> upstream, for which origin and endpoints), then what is left out."""
        lines = []
        for planned in self.origins:
            host, port = planned.upstream
            tls = f", TLS at both ends (SNI {planned.server_name})" if planned.tls else ""
            names = ", ".join(planned.endpoints) or "-"
            lines.append(f"proxy {listen} -> upstream {host}:{port}{tls}: {planned.url} ({names})")
        for name, url in sorted(self.outside.items()):
            lines.append(f"{name} at {url}: host not in allow, neither proxied nor called")
        if self.error:
            lines.append(f"discovery could not be read ({self.error}); only the issuer's origin is planned")
        return lines


def allowed(target: ExternalTarget, host: str) -> bool:
    return is_loopback(host) or host in target.allow


def discovery_url(target: ExternalTarget) -> str:
    return target.issuer.rstrip("/") + DISCOVERY_PATH


def provider_map(target: ExternalTarget, discovery: Mapping[str, Any] | None, error: str | None = None) -> ProviderMap:
    """The origins and endpoints of a provider, from its discovery document (None: not read)."""
    issuer = target.issuer.rstrip("/")
    found = ProviderMap(issuer, error=error)
    found.endpoints["discovery"] = discovery_url(target)
    for key, name in DISCOVERY_KEYS.items():
        url = (discovery or {}).get(key)
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            continue
        if allowed(target, urlsplit(url).hostname or ""):
            found.endpoints[name] = url
        else:
            found.outside[name] = url
    if target.aws_endpoint:  # the model requires its host to be allowed
        aws = target.aws_endpoint.rstrip("/")
        for name in AWS_ENDPOINTS:
            found.endpoints.setdefault(name, aws + EMBEDDED_PATHS[name])
    by_origin: dict[Origin, list[str]] = {origin_of(issuer): []}
    if target.aws_endpoint:
        by_origin.setdefault(origin_of(target.aws_endpoint), [])
    for name, url in found.endpoints.items():
        by_origin.setdefault(origin_of(url), []).append(name)
    for origin, names in by_origin.items():
        _, host, port = origin
        found.origins.append(PlannedOrigin(origin, (target.resolve.get(host, host), port), tuple(names)))
    return found


def client_origins(target: ExternalTarget) -> OriginMap:
    """How the orchestrator itself reaches the provider (discovery, the steady-state probe) without a
    proxy: `resolve` and `ca_bundle`, certificates verified."""
    return OriginMap(resolve=dict(target.resolve), ca_bundle=target.ca_bundle)


def read_provider(target: ExternalTarget, session: requests.Session | None = None) -> ProviderMap:
    """GET the discovery document (one request, no retry) and plan the origins from it."""
    own = session is None
    http = session or make_session(origins=client_origins(target))
    try:
        response = http.get(discovery_url(target), timeout=DISCOVERY_TIMEOUT_S, allow_redirects=False)
        if response.status_code != 200:
            return provider_map(target, None, f"HTTP {response.status_code} from {discovery_url(target)}")
        body = response.json()
        if not isinstance(body, dict) or "issuer" not in body:
            return provider_map(target, None, f"{discovery_url(target)} is not a discovery document")
        return provider_map(target, body)
    except Exception as exc:  # a provider that cannot be read is an outcome of the run, not a crash
        return provider_map(target, None, f"{classify_exception(exc)}: {type(exc).__name__}")
    finally:
        if own:
            http.close()
