"""Network faults on the veth link of the run's namespace, as command lines (pure, unit-tested) and an
applier that runs them inside the namespace.

Drops and RSTs are nftables rules, one table per fault (`inet harness_<tag>_<n>`), so removing a fault is
deleting its table; rate limits and netem are the root qdisc of the namespace's end of the veth. What
each fault type asks for is its model's own (`nft_rules`, `qdisc_args`, in harness/faults/). Every
command runs under `ip netns exec <the run's namespace>`: no rule ever lands in the root namespace.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.chaos.netns import Link, Runner, exec_prefix, run_command
from harness.faults.base import NetworkFault, NftFault, QdiscFault


def nft_ruleset(table: str, rules: list[tuple[str, str]]) -> str:
    """One nft command line (commands separated by ';') that makes the fault's table, chains and rules."""
    parts = [f"add table inet {table}"]
    for chain in sorted({c for c, _ in rules}):
        parts.append(f"add chain inet {table} {chain} {{ type filter hook {chain} priority -10 ; policy accept ; }}")
    parts += [f"add rule inet {table} {chain} {rule}" for chain, rule in rules]
    return " ; ".join(parts)


def apply_commands(link: Link, table: str, fault: NetworkFault) -> list[list[str]]:
    inside = exec_prefix(link)
    if isinstance(fault, QdiscFault):
        return [[*inside, "tc", "qdisc", "replace", "dev", link.ns_if, "root", *fault.qdisc_args()]]
    assert isinstance(fault, NftFault)
    return [[*inside, "nft", nft_ruleset(table, fault.nft_rules(link.ns_if))]]


def remove_commands(link: Link, table: str, fault: NetworkFault) -> list[list[str]]:
    inside = exec_prefix(link)
    if isinstance(fault, QdiscFault):
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


@dataclass
class NetFaults:
    link: Link
    runner: Runner = run_command
    _active: dict[str, tuple[str, NetworkFault]] = field(default_factory=dict)  # fault name -> (table, fault)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, name: str, fault: NetworkFault) -> dict[str, Any]:
        with self._lock:
            if isinstance(fault, QdiscFault) and any(isinstance(f, QdiscFault) for _, f in self._active.values()):
                raise RuntimeError("one qdisc fault (bandwidth_limit or netem) at a time on the link")
            self._count += 1
            table = f"harness_{self.link.tag}_{self._count}"
            commands = apply_commands(self.link, table, fault)
            self._run(commands)
            self._active[name] = (table, fault)
        return {"action": "apply", "netns": self.link.netns, "commands": [c[4:] for c in commands]}

    def remove(self, name: str) -> dict[str, Any]:
        with self._lock:
            table, fault = self._active.pop(name)
            self._run(remove_commands(self.link, table, fault))
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
