"""Network faults on the veth link of the run's namespace, as command lines (pure, unit-tested) and an
applier that runs them inside the namespace.

Drops and RSTs are nftables rules, one table per fault (`inet harness_<tag>_<n>`), so removing a fault is
deleting its table; rate limits and netem are the root qdisc of the namespace's end of the veth. Every
command runs under `ip netns exec <the run's namespace>`: no rule ever lands in the root namespace.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.chaos.netns import Link, Runner, exec_prefix, run_command

QDISC_FAULTS = ("bandwidth_limit", "packet_delay", "packet_corrupt", "packet_reorder")
NETEM_FAULTS = ("packet_delay", "packet_corrupt", "packet_reorder")
SCALE = 10_000  # numgen draws 0..9999, so a percent keeps two decimals


def _odds(percent: float) -> str:
    """`numgen random mod 10000 < N` for the share `percent`; nothing when it is every packet."""
    n = round(percent * SCALE / 100)
    return "" if n >= SCALE else f"numgen random mod {SCALE} < {n} "


def nft_ruleset(table: str, fault: Any, ns_if: str) -> str:
    """One nft command line (commands separated by ';') that makes the fault's table, chains and rules."""
    hooks = {"to_target": ("input", "iifname"), "from_target": ("output", "oifname")}
    if fault.type == "tcp_reject":
        rules = [("input", f'iifname "{ns_if}" meta l4proto tcp {_odds(fault.percent)}reject with tcp reset')]
    else:
        action = f"{_odds(fault.percent)}drop" if fault.type == "packet_loss" else "drop"
        directions = ["to_target", "from_target"] if fault.direction == "both" else [fault.direction]
        rules = [(hooks[d][0], f'{hooks[d][1]} "{ns_if}" {action}') for d in directions]
    parts = [f"add table inet {table}"]
    for chain in sorted({c for c, _ in rules}):
        parts.append(f"add chain inet {table} {chain} {{ type filter hook {chain} priority -10 ; policy accept ; }}")
    parts += [f"add rule inet {table} {chain} {rule}" for chain, rule in rules]
    return " ; ".join(parts)


def qdisc_args(fault: Any) -> list[str]:
    """What follows `tc qdisc replace dev IF root` for a rate limit or a netem fault."""
    if fault.type == "bandwidth_limit":
        return ["tbf", "rate", f"{fault.rate_kbit_s}kbit", "burst", str(fault.burst_bytes),
                "latency", f"{fault.queue_latency_ms:g}ms"]  # fmt: skip
    if fault.type == "packet_delay":
        jitter = [f"{fault.jitter_ms:g}ms"] if fault.jitter_ms else []
        return ["netem", "delay", f"{fault.delay_ms:g}ms", *jitter]
    if fault.type == "packet_corrupt":
        return ["netem", "corrupt", f"{fault.percent:g}%"]
    if fault.type == "packet_reorder":
        return ["netem", "delay", f"{fault.delay_ms:g}ms", "reorder", f"{100 - fault.percent:g}%"]
    raise ValueError(f"{fault.type} is not a qdisc fault")


def apply_commands(link: Link, table: str, fault: Any) -> list[list[str]]:
    inside = exec_prefix(link)
    if fault.type in QDISC_FAULTS:
        return [[*inside, "tc", "qdisc", "replace", "dev", link.ns_if, "root", *qdisc_args(fault)]]
    return [[*inside, "nft", nft_ruleset(table, fault, link.ns_if)]]


def remove_commands(link: Link, table: str, fault_type: str) -> list[list[str]]:
    inside = exec_prefix(link)
    if fault_type in QDISC_FAULTS:
        return [[*inside, "tc", "qdisc", "del", "dev", link.ns_if, "root"]]
    return [[*inside, "nft", "delete", "table", "inet", table]]


def probe_commands(link: Link) -> dict[str, list[list[str]]]:
    """Try each kernel feature on the namespace's own loopback (then undo it): name -> commands."""
    inside = exec_prefix(link)
    probe_table = f"harness_{link.tag}_probe"
    return {
        "netem": [[*inside, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                  [*inside, "tc", "qdisc", "del", "dev", "lo", "root"]],
        "tbf": [[*inside, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1mbit", "burst", "32kb",
                 "latency", "50ms"], [*inside, "tc", "qdisc", "del", "dev", "lo", "root"]],
        "nftables": [[*inside, "nft", f"add table inet {probe_table}"],
                     [*inside, "nft", "delete", "table", "inet", probe_table]],
    }  # fmt: skip


def probe(link: Link, runner: Runner = run_command) -> dict[str, bool]:
    """What this kernel can do, tried in the run's namespace: {"netem": False, "tbf": True, ...}."""
    found = {}
    for feature, (try_it, undo) in probe_commands(link).items():
        try:
            ok = runner(try_it).returncode == 0
        except FileNotFoundError:  # nft not installed
            ok = False
        if ok:
            runner(undo)
        found[feature] = ok
    return found


def needs(fault_type: str) -> str:
    """The kernel feature a fault type needs."""
    if fault_type in NETEM_FAULTS:
        return "netem"
    return "tbf" if fault_type == "bandwidth_limit" else "nftables"


@dataclass
class NetFaults:
    link: Link
    runner: Runner = run_command
    _active: dict[str, tuple[str, str]] = field(default_factory=dict)  # fault name -> (table, type)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, name: str, fault: Any) -> dict[str, Any]:
        with self._lock:
            if fault.type in QDISC_FAULTS and any(t in QDISC_FAULTS for _, t in self._active.values()):
                raise RuntimeError("one qdisc fault (bandwidth_limit or netem) at a time on the link")
            self._count += 1
            table = f"harness_{self.link.tag}_{self._count}"
            commands = apply_commands(self.link, table, fault)
            self._run(commands)
            self._active[name] = (table, fault.type)
        return {"action": "apply", "netns": self.link.netns, "commands": [c[4:] for c in commands]}

    def remove(self, name: str) -> dict[str, Any]:
        with self._lock:
            table, fault_type = self._active.pop(name)
            self._run(remove_commands(self.link, table, fault_type))
        return {"action": "remove", "netns": self.link.netns}

    def close(self) -> list[str]:
        """Remove every fault still on; say what could not be removed."""
        problems = []
        for name in list(self._active):
            try:
                self.remove(name)
            except Exception as exc:
                problems.append(f"{name}: {exc}")
        return problems

    def _run(self, commands: Sequence[Sequence[str]]) -> None:
        for argv in commands:
            result = self.runner(argv)
            if result.returncode != 0:
                raise RuntimeError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")
