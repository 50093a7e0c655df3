"""The run's network namespace: names, addresses and the `ip` command lines that make and remove it.

Everything carries the run's tag (a hash of the run id, since interface names are at most 15 bytes):
namespace `harness-<tag>`, veth `hv<tag>h` (root side) and `hv<tag>n` (namespace side), a /30 from
169.254.0.0/16 (link-local: never routed off the machine; 169.254.169.0/24, where clouds keep their
metadata service, is skipped). Nothing here touches an interface the harness did not create.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

NETNS_PREFIX = "harness-"
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run_command(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=15, check=False)


def tag_for(run_id: str) -> str:
    return hashlib.sha256(run_id.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Link:
    """Names and addresses of one run's namespace and veth pair."""

    tag: str
    block: int  # which /30 of 169.254.0.0/16

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.tag}"

    @property
    def host_if(self) -> str:
        return f"hv{self.tag}h"

    @property
    def ns_if(self) -> str:
        return f"hv{self.tag}n"

    @property
    def host_addr(self) -> str:
        return str(ipaddress.IPv4Address("169.254.0.0") + self.block * 4 + 1)

    @property
    def ns_addr(self) -> str:
        """Where the target listens; the harness made this address, so load may go there."""
        return str(ipaddress.IPv4Address("169.254.0.0") + self.block * 4 + 2)

    @classmethod
    def for_run(cls, run_id: str, taken: set[str] = frozenset()) -> Link:  # type: ignore[assignment]
        """A block chosen from the run id, moving on past addresses already on this machine."""
        tag = tag_for(run_id)
        start = int(tag, 16) % 16384
        for step in range(16384):
            block = (start + step) % 16384
            link = cls(tag, block)
            if 169 * 64 <= block < 170 * 64 or block == 0 or block == 16383:
                continue  # 169.254.169.0/24 (cloud metadata) and the range's edges
            if link.host_addr not in taken and link.ns_addr not in taken:
                return link
        raise RuntimeError("no free /30 left in 169.254.0.0/16")


def create_commands(link: Link) -> list[list[str]]:
    ns, h, n = link.netns, link.host_if, link.ns_if
    return [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", h, "type", "veth", "peer", "name", n, "netns", ns],
        ["ip", "addr", "add", f"{link.host_addr}/30", "dev", h],
        ["ip", "link", "set", h, "up"],
        ["ip", "-n", ns, "addr", "add", f"{link.ns_addr}/30", "dev", n],
        ["ip", "-n", ns, "link", "set", n, "up"],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
    ]


def delete_commands(link_netns: str, host_if: str) -> list[list[str]]:
    """Deleting the namespace takes its end of the veth, its qdiscs and nft tables with it; the root end
    goes with its peer, and is deleted by name in case the pair was only half made."""
    return [["ip", "netns", "delete", link_netns], ["ip", "link", "delete", host_if]]


def exec_prefix(link: Link) -> list[str]:
    """Run a command inside the namespace (`ip netns exec` execs it: the PID is the command's own)."""
    return ["ip", "netns", "exec", link.netns]


def host_addresses(runner: Runner = run_command) -> set[str]:
    result = runner(["ip", "-o", "-4", "addr", "show"])
    return {parts[3].split("/")[0] for parts in (line.split() for line in result.stdout.splitlines()) if len(parts) > 3}


def netns_names(runner: Runner = run_command) -> list[str]:
    result = runner(["ip", "netns", "list"])
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


class Namespace:
    """Creates the run's namespace and veth, and removes exactly those (idempotent)."""

    def __init__(self, link: Link, runner: Runner = run_command):
        self.link, self.runner = link, runner
        self.created = False

    def create(self) -> None:
        self.created = True  # from the first command on, delete() has something to undo
        for argv in create_commands(self.link):
            result = self.runner(argv)
            if result.returncode != 0:
                raise RuntimeError(f"`{' '.join(argv)}` failed: {result.stderr.strip()}")

    def delete(self) -> list[str]:
        """Remove the namespace and veth; return what still exists afterwards (empty: all gone)."""
        if self.created:
            for argv in delete_commands(self.link.netns, self.link.host_if):
                self.runner(argv)  # "does not exist" is fine: the goal is that it is gone
        return self.remaining()

    def remaining(self) -> list[str]:
        left = [f"netns {self.link.netns}"] if self.link.netns in netns_names(self.runner) else []
        if self.runner(["ip", "link", "show", self.link.host_if]).returncode == 0:
            left.append(f"link {self.link.host_if}")
        return left
