"""Counters per proxy and per toxic, and their Prometheus text exposition (GET /metrics).

They let a run check the proxy did what the scenario asked (fidelity): e.g. that 30% of token requests
were answered with 503, not just that clients saw errors. Counters only grow; a toxic's counters
survive its removal and re-creation under the same name, so a run can read them after a phase ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class ToxicCounters:
    type: str
    stream: str
    requests_matched: int = 0  # HTTP toxics: requests that matched method and path
    faults_injected: int = 0  # requests answered / delayed, chunks delayed
    faults_skipped: int = 0  # would have fired but could not safely (e.g. a pipelining client)


@dataclass
class ProxyCounters:
    connections_total: int = 0
    connections_active: int = 0
    connections_native: int = 0  # of the active ones, those the native relay moves now (a snapshot's)
    native_handovers: int = 0  # connections handed to the native relay (again after each take-back)
    upstream_connect_errors: int = 0
    bytes_upstream: int = 0  # client -> server, as received from the client
    bytes_downstream: int = 0  # server -> client, as received from the server
    requests: int = 0  # HTTP requests framed on the client -> server stream
    toxics: dict[str, ToxicCounters] = field(default_factory=dict)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


_PROXY_METRICS = (
    ("harness_proxy_connections_total", "counter", "TCP connections accepted.", "connections_total"),
    ("harness_proxy_connections_active", "gauge", "TCP connections open now.", "connections_active"),
    (
        "harness_proxy_connections_native",
        "gauge",
        "Open connections the native relay moves now (no toxic on them; the rest go through Python).",
        "connections_native",
    ),
    (
        "harness_proxy_native_handovers_total",
        "counter",
        "Connections handed to the native relay (a connection a toxic took back and handed again counts again).",
        "native_handovers",
    ),
    (
        "harness_proxy_upstream_connect_errors_total",
        "counter",
        "Connections closed because the upstream could not be reached.",
        "upstream_connect_errors",
    ),
    ("harness_proxy_requests_total", "counter", "HTTP requests seen from clients.", "requests"),
)
_TOXIC_METRICS = (
    (
        "harness_proxy_toxic_requests_matched_total",
        "HTTP requests that matched a toxic's method and path.",
        "requests_matched",
    ),
    (
        "harness_proxy_toxic_faults_injected_total",
        "Faults applied: requests answered or delayed, chunks delayed.",
        "faults_injected",
    ),
    (
        "harness_proxy_toxic_faults_skipped_total",
        "Faults that won their coin flip but were not applied to keep the stream intact.",
        "faults_skipped",
    ),
)


def render(proxies: Iterable[tuple[str, ProxyCounters]]) -> str:
    """Prometheus text format 0.0.4."""
    items = sorted(proxies)
    lines: list[str] = []
    for name, kind, help_text, attr in _PROXY_METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{_labels(proxy=p)} {getattr(c, attr)}" for p, c in items]
    name = "harness_proxy_bytes_total"
    lines += [f"# HELP {name} Bytes received, by direction (upstream: from clients).", f"# TYPE {name} counter"]
    for p, c in items:
        lines.append(f"{name}{_labels(proxy=p, direction='upstream')} {c.bytes_upstream}")
        lines.append(f"{name}{_labels(proxy=p, direction='downstream')} {c.bytes_downstream}")
    for name, help_text, attr in _TOXIC_METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        for p, c in items:
            for toxic, t in sorted(c.toxics.items()):
                labels = _labels(proxy=p, toxic=toxic, type=t.type, stream=t.stream)
                lines.append(f"{name}{labels} {getattr(t, attr)}")
    return "\n".join(lines) + "\n"
