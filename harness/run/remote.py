"""A run that spans machines, as the orchestrator sees it: where the Locust master binds and how many
workers it waits for (`--master-bind`, `--expect-workers`), where the target and the proxy listen when
workers elsewhere must reach them (`--listen`), the checks made before anything starts, what `--dry-run`
says about it, and the message when workers did not come.

Blast radius: nothing listens off loopback unless `--listen` names the address, and that address must be
one of this machine's own (so load from remote workers can only reach the services this run started);
a wildcard is refused, since the workers are told one address to send load to.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.clients.flows import credential_variables
from harness.contract import Env
from harness.errors import InputError
from harness.scenario.model import EmbeddedTarget, Scenario

DEFAULT_MASTER_PORT = 5557  # Locust's own default, for `harness worker --master HOST` without a port


def parse_hostport(value: str, flag: str, default_port: int | None = None) -> tuple[str, int]:
    """`HOST:PORT` or `[v6]:PORT` (HOST alone when there is a default port) -> (host, port)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a name, an IPv4 address or a bare IPv6 address: no port
        host, port_text = text, ""
    if not port_text and default_port is not None:
        port = default_port
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        port = 0
    if not host or not port:
        raise InputError(f"{flag} {value!r}: expected HOST:PORT (e.g. 10.0.0.5:5557)")
    return host, port


def can_bind(host: str, port: int) -> bool:
    """Whether this machine could listen on (host, port): only its own addresses bind."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def master_port(host: str = "127.0.0.1", rng: random.Random | None = None,
                bindable: Callable[[str, int], bool] = can_bind) -> int:  # fmt: skip
    """A free port for the master below the kernel's ephemeral range. Workers start as the master does and
    keep reconnecting until it listens; towards an ephemeral port a reconnect can pick that very port as
    its own source and connect the worker to itself (TCP simultaneous open), and it then never joins.
    A port no connect ever gets as its source cannot be taken that way."""
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = rng or random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        if bindable(host, port):
            return port
    raise InputError(f"no free port for the Locust master on {host} below {low}; give --master-bind HOST:PORT")


def check_listen(address: str, flag: str = "--listen", bindable: Callable[[str, int], bool] = can_bind) -> str:
    """`--listen ADDR`: an IP address of this machine (not a wildcard); returns it normalised."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        raise InputError(f"{flag} {address!r}: give an IP address of this machine (e.g. 10.0.0.5)") from None
    if ip.is_unspecified or ip.is_multicast:
        raise InputError(f"{flag} {address}: give the one address remote workers reach, not a wildcard")
    if not bindable(str(ip), 0):
        raise InputError(
            f"{flag} {ip}: not an address of this machine; the harness listens only on this machine's own "
            "addresses (blast radius)"
        )
    return str(ip)


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def check_remote(scenario: Scenario, local: int, expected: int, master_bind: str | None,
                 environ: Mapping[str, str] = os.environ) -> None:  # fmt: skip
    """Before anything starts: what a run with workers on other machines needs (InputError otherwise)."""
    if expected < local:
        raise InputError(f"--expect-workers counts every worker, the {local} local ones too: give at least {local}")
    if expected == local:
        return
    if master_bind is None:
        raise InputError("workers on other machines must know where the master is: give --master-bind HOST:PORT")
    if isinstance(scenario.target, EmbeddedTarget):
        missing = [name for name in credential_variables(scenario) if not environ.get(name)]
        if missing:
            raise InputError(
                f"remote workers read the embedded target's client secret from their own environment: set "
                f"{', '.join(missing)} (and optionally {Env.CLIENT_ID}) to the same value here and on every worker"
            )


def describe(
    local: int, expected: int, master: tuple[str, int] | None, timeout_s: float, listen: str | None
) -> list[str]:
    """`--dry-run`'s lines about workers and addresses."""
    lines = []
    if listen is not None:
        lines.append(f"listen: target and proxy on {listen} (given by --listen; not loopback only), clients use it")
    else:
        lines.append("listen: target and proxy on loopback only (remote workers on other machines cannot reach them)")
    if expected:
        where = f"{url_host(master[0])}:{master[1]}" if master else "127.0.0.1, a free port"
        remote = expected - local
        lines.append(
            f"workers: the Locust master binds {where} and waits up to {timeout_s:g} s for {expected} workers "
            f"({local} started here, {remote} remote: `harness worker --master {where}` on each)"
        )
        if remote:
            lines.append(
                "workers: remote ones get the scenario, endpoints and seed from the master and read "
                f"{Env.CLIENT_SECRET} from their own environment; their records come home at stop"
            )
    return lines


def missing_message(event: dict[str, Any], local_nodes: Sequence[str], refused: Sequence[dict[str, Any]],
                    master: str) -> str:  # fmt: skip
    """The error when --expect-workers did not come: who came, who is missing, who was refused and why."""
    joined = list(event.get("joined") or [])
    expected = int(event.get("expected", 0))
    parts = [f"{len(joined)} of {expected} load workers joined within {event.get('waited_s')} s"
             + (f" ({', '.join(joined)})" if joined else "")]  # fmt: skip
    absent_local = [n for n in local_nodes if n not in joined]
    remote_missing = expected - len(joined) - len(absent_local)
    missing = [f"local worker {n} (see logs/locust-worker-{n.lstrip('w')}.log)" for n in absent_local]
    if remote_missing > 0:
        missing.append(f"{remote_missing} remote worker{'s' if remote_missing > 1 else ''} "
                       f"(`harness worker --master {master}` on another machine)")  # fmt: skip
    if missing:
        parts.append("missing: " + "; ".join(missing))
    for ev in refused:
        parts.append(f"refused {ev.get('node')} on {ev.get('host')}: {ev.get('reason')}")
    return "; ".join(parts)

