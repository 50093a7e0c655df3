"""Listen and upstream addresses: `host:port` parsing and the loopback-only rule for listeners.

The harness never opens a listener off loopback unless told to (blast radius: a fault proxy reachable
from the network is a way to break someone else's traffic)."""

from __future__ import annotations

from harness.endpoints import is_loopback
from harness.proxy.apierrors import INVALID_ADDRESS, LISTEN_NOT_ALLOWED

DEFAULT_LISTEN = "127.0.0.1:0"


def split_hostport(value: str, what: str) -> tuple[str, int]:
    """`"127.0.0.1:80"`, `"[::1]:80"`, `"localhost:0"` -> (host, port); ApiError 400 otherwise."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise INVALID_ADDRESS(f"{what} {value!r} is not host:port")
    port = int(port_text)
    if port > 65535:
        raise INVALID_ADDRESS(f"{what} {value!r}: port out of range")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise INVALID_ADDRESS(f"{what} {value!r} has no host (give 127.0.0.1:PORT)")
    return host, port


def check_listen(value: str, allow_non_loopback: bool, also: str | None = None) -> tuple[str, int]:
    """`also`: the one other address proxies may listen on (`harness proxy --allow-listen`)."""
    host, port = split_hostport(value, "listen")
    if not allow_non_loopback and not is_loopback(host) and host != also:
        raise LISTEN_NOT_ALLOWED(
            f"{value!r} is not a loopback address; the harness proxy listens only on 127.0.0.0/8, ::1 "
            "or localhost (blast-radius rule)"
        )
    return host, port


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
