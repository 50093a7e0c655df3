"""HTTP transport for the clients: requests with every hidden retry switched off, and the origin map.

The origin map (`Route`s) is how clients reach a provider through the fault proxy without changing a URL:
a request for `https://idp.test/token` connects to the route's address (the proxy's listener, or the
address `target.resolve` gives) while the URL's host stays what the `Host` header, SNI and the certificate
check use, as `curl --resolve` does. Paths, queries, the issuer and every token's `iss` stay the
provider's own. Each route names the CA bundle its certificate is checked against (the run's CA where
the proxy terminates TLS); verification is never off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from harness.contract import Runtime
from harness.scenario.model import EmbeddedTarget, ExternalTarget

DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # (scheme, host in lower case, port)


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme, 0)


def origin_url(origin: Origin) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


@dataclass(frozen=True)
class Route:
    """Where requests for one origin connect, and what its certificate is checked against."""

    host: str  # the address connected to instead of the URL's host
    port: int
    ca_bundle: str | None = None  # PEM path; None: the system store (requests' default)


@dataclass(frozen=True)
class OriginMap:
    """Routes by origin; for other origins, `resolve` (host -> address, same port) and `ca_bundle`."""

    routes: Mapping[Origin, Route] = field(default_factory=dict)
    resolve: Mapping[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None

    def __bool__(self) -> bool:
        return bool(self.routes or self.resolve or self.ca_bundle)

    def route(self, origin: Origin) -> Route | None:
        route = self.routes.get(origin)
        if route is not None:
            return route
        _, host, port = origin
        if host in self.resolve:
            return Route(self.resolve[host], port, self.ca_bundle)
        return Route(host, port, self.ca_bundle) if self.ca_bundle else None


def _routed(base: type[HTTPConnection], scheme: str, origins: OriginMap) -> type[HTTPConnection]:
    """`base` connecting to its route's address; everything else (Host, SNI, hostname check, errors) is
    urllib3's own, which still sees the URL's host and port."""

    class Routed(base):  # type: ignore[valid-type, misc]
        def _new_conn(self) -> Any:
            conn: Any = self  # urllib3 declares neither `port` nor `_dns_host` where mypy can see them
            port: int = conn.port or DEFAULT_PORTS[scheme]
            route = origins.route((scheme, str(conn.host).lower(), port))
            if route is None:
                return super()._new_conn()
            dns_host: str = conn._dns_host
            conn._dns_host, conn.port = route.host, route.port
            try:
                return super()._new_conn()
            finally:
                conn._dns_host, conn.port = dns_host, port

    Routed.__name__ = f"Routed{base.__name__}"
    return Routed


class RoutedAdapter(HTTPAdapter):
    """An HTTPAdapter (no retries) that follows the origin map; origins not in it go where DNS says."""

    def __init__(self, origins: OriginMap | None = None, pool_maxsize: int = 10):
        self.origins = origins or OriginMap()
        super().__init__(max_retries=0, pool_connections=4, pool_maxsize=pool_maxsize)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        if not self.origins:
            return  # exactly requests' own pools
        pools: dict[str, type[HTTPConnectionPool]] = {}
        for scheme, pool, conn in (("http", HTTPConnectionPool, HTTPConnection),
                                   ("https", HTTPSConnectionPool, HTTPSConnection)):  # fmt: skip
            pools[scheme] = type(f"Routed{pool.__name__}", (pool,),
                                 {"ConnectionCls": _routed(conn, scheme, self.origins)})  # fmt: skip
        self.poolmanager.pool_classes_by_scheme = pools

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        route = self.origins.route(origin_of(request.url or "")) if self.origins else None
        if route is not None and route.ca_bundle is not None:
            kwargs["verify"] = route.ca_bundle  # never False: only a CA bundle replaces the default
        return super().send(request, *args, **kwargs)


def make_session(pool_maxsize: int = 10, origins: OriginMap | None = None) -> requests.Session:
    """A session whose only retries are the ones the scenario asks for (urllib3's are off), which ignores
    proxy environment variables so load never leaves loopback by accident, and follows the origin map."""
    session = requests.Session()
    session.trust_env = False
    adapter = RoutedAdapter(origins, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def runtime_origins(runtime: Runtime, target: EmbeddedTarget | ExternalTarget) -> OriginMap:
    """The origin map a load process follows: each proxied origin to its proxy's listener (its TLS
    certificate is the run's CA's), and for an external provider `resolve` and `ca_bundle` everywhere else.
    The embedded target over TLS is an origin too (its certificate is the run's CA's, proxy or not)."""
    routes: dict[Origin, Route] = {}
    for entry in runtime.origins:
        host, _, port = entry.listen.rpartition(":")
        own_ca = entry.tls and (entry.proxy_name is not None or isinstance(target, EmbeddedTarget))
        ca_bundle = runtime.ca_file if own_ca else getattr(target, "ca_bundle", None)
        routes[origin_of(entry.origin)] = Route(host.strip("[]"), int(port), ca_bundle)
    if isinstance(target, ExternalTarget):
        return OriginMap(routes, dict(target.resolve), target.ca_bundle)
    return OriginMap(routes)
