"""Network namespaces a test makes to stand for separate machines: a switch namespace holding a bridge, and
one namespace per machine with its own loopback and one address on that bridge. Each veth pair is made
inside the namespaces (`ip -n M link add eth0 ... peer ... netns SWITCH`), so nothing ever appears in the
root namespace and no interface of the host is touched. Names start with `hrt-` ("harness remote test"),
not the harness's own `harness-` prefix, whose crashed-run sweep must never take a test's namespaces.

Root and iproute2 only (the harness's own namespace code is harness/chaos/netns.py).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

SUBNET = "169.254.200"  # link-local, and only inside the lab's own namespaces
needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="network namespaces need root and iproute2 (Debian: apt-get install -y iproute2)",
)


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


@dataclass(frozen=True)
class Machine:
    name: str
    netns: str
    addr: str

    def argv(self, *command: str) -> list[str]:
        """Run `command` on this machine (`ip netns exec` execs it: the PID is the command's own)."""
        return ["ip", "netns", "exec", self.netns, *command]


class NetLab:
    """`with NetLab(["master", "w1", "w2"]) as lab:` then `lab["master"].addr`, `lab["w1"].argv(...)`."""

    def __init__(self, names: Sequence[str]):
        tag = secrets.token_hex(3)
        self.switch = f"hrt-{tag}-sw"
        self.machines = {name: Machine(name, f"hrt-{tag}-{i}", f"{SUBNET}.{i + 1}") for i, name in enumerate(names)}
        self.created: list[str] = []

    def __getitem__(self, name: str) -> Machine:
        return self.machines[name]

    def __enter__(self) -> NetLab:
        try:
            self._create()
        except BaseException:
            self.delete()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()

    def _create(self) -> None:
        for netns in (self.switch, *(m.netns for m in self.machines.values())):
            ip("netns", "add", netns)
            self.created.append(netns)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for i, machine in enumerate(self.machines.values()):
            port = f"p{i}"
            ip("-n", machine.netns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.switch)
            ip("-n", self.switch, "link", "set", port, "master", "br0")
            ip("-n", self.switch, "link", "set", port, "up")
            ip("-n", machine.netns, "addr", "add", f"{machine.addr}/24", "dev", "eth0")
            ip("-n", machine.netns, "link", "set", "eth0", "up")
            ip("-n", machine.netns, "link", "set", "lo", "up")

    def delete(self) -> None:
        """Deleting a namespace takes its veth ends and the bridge with it."""
        for netns in reversed(self.created):
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True, timeout=15, check=False)
        self.created = []

    def remaining(self) -> list[str]:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=15).stdout
        ours = {self.switch, *(m.netns for m in self.machines.values())}
        return [line.split()[0] for line in listed.splitlines() if line.split() and line.split()[0] in ours]
