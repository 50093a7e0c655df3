"""Proxies and their toxics: the state the control API reads and edits (Toxiproxy's semantics).

Everything here runs on the proxy's event loop; API handlers call it directly, so no locks. A change
to a proxy's toxics is pushed to every open connection at once (see Link.apply_toxics).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.proxy import apierrors as err
from harness.proxy import relay
from harness.proxy.addresses import DEFAULT_LISTEN, check_listen, format_hostport, split_hostport
from harness.proxy.metrics import ProxyCounters, ToxicCounters
from harness.proxy.registry import (
    STREAMS,
    InvalidAttributes,
    Stream,
    Toxic,
    UnknownToxicType,
    toxic_class,
)
from harness.proxy.tls import ListenTls, UpstreamTls

if TYPE_CHECKING:
    import ssl

    from harness.proxy.connection import Link


class Listener(Protocol):
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


# (protocol factory, host, port, TLS context or None) -> (listener, bound port). Injected so API tests need
# no sockets.
Binder = Callable[
    [Callable[[], asyncio.Protocol], str, int, "ssl.SSLContext | None"], Awaitable[tuple[Listener, int]]
]


async def tcp_binder(
    factory: Callable[[], asyncio.Protocol], host: str, port: int, tls: ssl.SSLContext | None = None
) -> tuple[Listener, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, host, port, backlog=1024, ssl=tls)
    return server, server.sockets[0].getsockname()[1]


@dataclass
class Settings:
    """What every proxy shares: the seed for coin flips, the listen rule, how to bind."""

    seed: int | None = None
    allow_non_loopback: bool = False
    also_listen: str | None = None  # one more address listeners may use (harness run --listen)
    binder: Binder = tcp_binder
    # Connections no toxic touches go to the native relay (harness/proxy/relay.py) where it is built.
    native: bool = relay.AVAILABLE  # False: every connection in Python (harness proxy --no-native)
    _relay: relay.NativeRelay | None = field(default=None, init=False, repr=False, compare=False)

    def native_relay(self) -> relay.NativeRelay | None:
        """The relay of this collection (started on first use, on the running loop), or None."""
        if not self.native:
            return None
        if self._relay is None:
            self._relay = relay.NativeRelay(asyncio.get_running_loop())
        return self._relay

    def close_relay(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def rng(self, *names: str) -> random.Random:
        """A generator per (proxy, toxic): a toxic's coin flips do not depend on other toxics."""
        if self.seed is None:
            return random.Random()
        return random.Random(":".join((str(self.seed), *names)))


@dataclass(eq=False)
class ToxicEntry:
    """A toxic as placed on a proxy: the envelope (name, stream, toxicity) around its attributes.
    Replaced, never mutated, on update; connections key their per-connection state by identity."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    toxic: Toxic
    rng: random.Random
    counters: ToxicCounters

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": self.toxic.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise err.BAD_REQUEST_BODY(f"{what} must be a JSON object")
    return body


def _string(body: Mapping[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise err.BAD_REQUEST_BODY(f"{key} must be a string")
    return value


def _toxicity(body: Mapping[str, Any], default: float) -> float:
    value = body.get("toxicity", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise err.BAD_REQUEST_BODY("toxicity must be a number from 0 to 1")
    return float(value)


@dataclass(frozen=True)
class Tls:
    """A proxy's TLS on each hop (harness.proxy.tls); both None is Toxiproxy's plain TCP proxy."""

    listen: ListenTls | None = None
    upstream: UpstreamTls | None = None

    @classmethod
    def parse(cls, body: Mapping[str, Any], upstream: str, default: Tls | None = None) -> Tls:
        """The TLS fields of a proxy's JSON; a field not given keeps its value in `default`."""
        host = split_hostport(upstream, "upstream")[0]
        listen = ListenTls.parse(body["listen_tls"]) if "listen_tls" in body else (default or cls()).listen
        up = UpstreamTls.parse(body["upstream_tls"], host) if "upstream_tls" in body else (default or cls()).upstream
        return cls(listen, up)

    def relayed(self, settings: Settings) -> relay.NativeRelay | None:
        """The native relay that keeps this proxy's TLS sessions: TLS on both hops, both contexts made there
        (only a relay built with TLS makes them). None: TLS in Python."""
        if self.listen is None or self.upstream is None or self.listen.native is None or self.upstream.native is None:
            return None
        return settings.native_relay()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.listen is not None:
            out["listen_tls"] = self.listen.to_json()
        if self.upstream is not None:
            out["upstream_tls"] = self.upstream.to_json()
        return out


class Proxy:
    """One listener and its upstream, the toxics on it, and the connections open through it."""

    def __init__(self, name: str, listen: str, upstream: str, settings: Settings, tls: Tls | None = None):
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.tls = tls or Tls()
        self.enabled = False
        self.settings = settings
        self.toxics: dict[str, ToxicEntry] = {}
        self.counters = ProxyCounters()
        self.links: set[Link] = set()
        self.toxicity_rng = settings.rng(name, "toxicity")
        self._listener: Listener | None = None
        # One per listener: a connection accepted by a listener since closed (a TLS handshake still under
        # way when the proxy went down) is cut when it is made, instead of proxying through the outage.
        self.generation = 0

    # --- JSON ------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics_json(),
            **self.tls.to_json(),  # only when set: Toxiproxy's clients see Toxiproxy's JSON
        }

    def toxics_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.chain_upstream()] + [e.to_json() for e in self.chain_downstream()]

    def chain_upstream(self) -> list[ToxicEntry]:
        return [e for e in self.toxics.values() if e.stream == "upstream"]

    def chain_downstream(self) -> list[ToxicEntry]:
        return [e for e in self.toxics.values() if e.stream == "downstream"]

    # --- listener --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.enabled:
            return
        from harness.proxy.connection import ClientProtocol, TlsAcceptProtocol

        host, port = check_listen(self.listen, self.settings.allow_non_loopback, self.settings.also_listen)
        try:
            tls = self.tls.listen.context if self.tls.listen is not None else None
            self.generation += 1
            generation = self.generation
            factory: Callable[[], asyncio.Protocol] = lambda: ClientProtocol(self, generation)  # noqa: E731
            relayed = self.tls.relayed(self.settings)
            if relayed is not None:  # the relay does the handshake: the listener is plain TCP
                tls = None
                factory = lambda: TlsAcceptProtocol(self, generation, relayed)  # noqa: E731
            self._listener, bound = await self.settings.binder(factory, host, port, tls)
        except OSError as exc:
            raise err.LISTEN_FAILED(f"{self.listen}: {exc.strerror or exc}") from exc
        self.listen = format_hostport(host, bound)  # port 0 becomes the real one; re-enable reuses it
        self.enabled = True

    async def stop(self) -> None:
        """Down: no listener, and every open connection cut."""
        if not self.enabled:
            return
        self.enabled = False
        self.generation += 1
        listener, self._listener = self._listener, None
        for link in list(self.links):
            link.abort()
        if listener is not None:
            listener.close()
            await listener.wait_closed()

    async def update(self, body: Mapping[str, Any]) -> None:
        listen = _string(body, "listen", self.listen) or self.listen
        upstream = _string(body, "upstream", self.upstream) or self.upstream
        enabled = body.get("enabled", self.enabled)
        if not isinstance(enabled, bool):
            raise err.BAD_REQUEST_BODY("enabled must be true or false")
        check_listen(listen, self.settings.allow_non_loopback, self.settings.also_listen)
        split_hostport(upstream, "upstream")
        tls = Tls.parse(body, upstream, self.tls)
        if self.differs(listen, upstream, tls):
            await self.stop()
            self.listen, self.upstream, self.tls = _normalize_listen(listen), upstream, tls
        if enabled and not self.enabled:
            await self.start()
        elif not enabled and self.enabled:
            await self.stop()

    def differs(self, listen: str, upstream: str, tls: Tls | None = None) -> bool:
        return _normalize_listen(listen) != self.listen or upstream != self.upstream or (tls or Tls()) != self.tls

    # --- toxics ----------------------------------------------------------------------------------

    def add_toxic(self, body: Any) -> ToxicEntry:
        body = _object(body, "toxic")
        stream_given = _string(body, "stream").lower()
        if stream_given and stream_given not in STREAMS:
            raise err.INVALID_STREAM()
        type_name = _string(body, "type")
        try:
            cls = toxic_class(type_name)
        except UnknownToxicType as exc:
            raise err.INVALID_TOXIC_TYPE(str(exc)) from None
        stream: Stream = "upstream" if (stream_given or cls.streams[0]) == "upstream" else "downstream"
        if stream not in cls.streams:
            raise err.INVALID_STREAM(f"{type_name} acts on {' or '.join(cls.streams)} only")
        name = _string(body, "name") or f"{type_name}_{stream}"
        if name in self.toxics:
            raise err.TOXIC_ALREADY_EXISTS()
        toxicity = _toxicity(body, 1.0)
        toxic = self._toxic_from(cls.from_attributes, body.get("attributes") or {})
        counters = self.counters.toxics.setdefault(name, ToxicCounters(type_name, stream))
        counters.type, counters.stream = type_name, stream
        entry = ToxicEntry(name, type_name, stream, toxicity, toxic, self.settings.rng(self.name, name), counters)
        self.toxics[name] = entry
        self._relink()
        return entry

    def update_toxic(self, name: str, body: Any) -> ToxicEntry:
        old = self.get_toxic(name)
        body = _object(body, "toxic")
        toxicity = _toxicity(body, old.toxicity)
        toxic = self._toxic_from(old.toxic.updated, body.get("attributes") or {})
        entry = ToxicEntry(old.name, old.type, old.stream, toxicity, toxic, old.rng, old.counters)
        self.toxics[name] = entry
        self._relink()
        return entry

    def get_toxic(self, name: str) -> ToxicEntry:
        try:
            return self.toxics[name]
        except KeyError:
            raise err.TOXIC_NOT_FOUND() from None

    def remove_toxic(self, name: str) -> None:
        self.get_toxic(name)
        del self.toxics[name]
        self._relink()

    def reset_toxics(self) -> None:
        if self.toxics:
            self.toxics.clear()
            self._relink()

    @staticmethod
    def _toxic_from(make: Callable[[Mapping[str, Any]], Toxic], attributes: Any) -> Toxic:
        if not isinstance(attributes, Mapping):
            raise err.BAD_REQUEST_BODY("attributes must be a JSON object")
        try:
            return make(attributes)
        except InvalidAttributes as exc:
            raise err.INVALID_ATTRIBUTES(str(exc)) from None

    def _relink(self) -> None:
        up, down = self.chain_upstream(), self.chain_downstream()
        for link in list(self.links):
            link.apply_toxics(up, down)


def _normalize_listen(listen: str) -> str:
    host, port = split_hostport(listen, "listen")
    return format_hostport("127.0.0.1" if host.lower() == "localhost" else host, port)


class ProxyCollection:
    """All proxies by name (insertion order)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise err.PROXY_NOT_FOUND() from None

    def _new_proxy(self, body: Mapping[str, Any], where: str = "") -> tuple[Proxy, bool]:
        name = _string(body, "name")
        upstream = _string(body, "upstream")
        if not name:
            raise err.MISSING_FIELD(f"name{where}")
        if not upstream:
            raise err.MISSING_FIELD(f"upstream{where}")
        listen = _normalize_listen(_string(body, "listen") or DEFAULT_LISTEN)
        check_listen(listen, self.settings.allow_non_loopback, self.settings.also_listen)
        split_hostport(upstream, "upstream")
        enabled = body.get("enabled", True)
        if enabled is None:
            enabled = True
        if not isinstance(enabled, bool):
            raise err.BAD_REQUEST_BODY(f"enabled{where} must be true or false")
        return Proxy(name, listen, upstream, self.settings, Tls.parse(body, upstream)), enabled

    async def create(self, body: Any) -> Proxy:
        proxy, enabled = self._new_proxy(_object(body, "proxy"))
        if proxy.name in self.proxies:
            raise err.PROXY_ALREADY_EXISTS()
        if enabled:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def populate(self, body: Any) -> tuple[list[Proxy], err.ApiError | None]:
        """Creates or replaces each proxy (Toxiproxy's POST /populate): an existing proxy with the
        same listen and upstream is kept as it is, toxics included. Stops at the first error and
        returns what it did until then."""
        if not isinstance(body, list):
            raise err.BAD_REQUEST_BODY("expected a JSON list of proxies")
        wanted = [self._new_proxy(_object(item, f"proxy {i + 1}"), f" at proxy {i + 1}") for i, item in enumerate(body)]
        done: list[Proxy] = []
        for proxy, enabled in wanted:
            existing = self.proxies.get(proxy.name)
            if existing is not None and not existing.differs(proxy.listen, proxy.upstream, proxy.tls):
                done.append(existing)
                continue
            if existing is not None:
                await existing.stop()
                del self.proxies[existing.name]
            try:
                if enabled:
                    await proxy.start()
            except err.ApiError as exc:
                return done, exc
            self.proxies[proxy.name] = proxy
            done.append(proxy)
        return done, None

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.stop()
        del self.proxies[name]

    async def reset(self) -> None:
        """Every proxy enabled, every toxic removed: the roll-back of a run."""
        for proxy in self.proxies.values():
            proxy.reset_toxics()
            await proxy.start()

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.stop()
        self.settings.close_relay()

    def counters(self) -> Iterable[tuple[str, ProxyCounters]]:
        for name, proxy in self.proxies.items():
            counters = proxy.counters
            requests, up, down = counters.requests, counters.bytes_upstream, counters.bytes_downstream
            native = 0
            for link in proxy.links:
                seen, native_up, native_down = link.live_counts()
                requests += seen
                up += native_up
                down += native_down
                native += link.native
            yield name, ProxyCounters(**{**vars(counters), "requests": requests, "bytes_upstream": up,
                                         "bytes_downstream": down, "connections_native": native})  # fmt: skip


__all__ = ["Binder", "Listener", "Proxy", "ProxyCollection", "Settings", "ToxicEntry", "tcp_binder"]
