"""The namespace's names, addresses and `ip` command lines, without running them."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence

from harness.chaos.netns import Link, Namespace, create_commands, delete_commands, exec_prefix, tag_for


def test_names_carry_the_run_tag_and_fit_interface_limits() -> None:
    link = Link.for_run("20261128T044401Z-chaos-partition")
    tag = tag_for("20261128T044401Z-chaos-partition")
    assert link.netns == f"harness-{tag}"
    assert (link.host_if, link.ns_if) == (f"hv{tag}h", f"hv{tag}n")
    assert len(link.host_if) <= 15 and len(link.ns_if) <= 15


def test_addresses_are_a_link_local_slash30_never_the_metadata_range() -> None:
    for run_id in (f"run-{n}" for n in range(300)):
        link = Link.for_run(run_id)
        host, ns = ipaddress.ip_address(link.host_addr), ipaddress.ip_address(link.ns_addr)
        assert host.is_link_local and ns.is_link_local
        assert ipaddress.ip_network(f"{link.host_addr}/30", strict=False) == ipaddress.ip_network(
            f"{link.ns_addr}/30", strict=False
        )
        assert not str(host).startswith("169.254.169.")


def test_an_address_in_use_moves_the_block_on() -> None:
    first = Link.for_run("r")
    second = Link.for_run("r", {first.ns_addr})
    assert second.block != first.block


def test_create_and_delete_commands() -> None:
    link = Link("abcd1234", 5)
    assert create_commands(link) == [
        ["ip", "netns", "add", "harness-abcd1234"],
        [
            "ip",
            "link",
            "add",
            "hvabcd1234h",
            "type",
            "veth",
            "peer",
            "name",
            "hvabcd1234n",
            "netns",
            "harness-abcd1234",
        ],
        ["ip", "addr", "add", "169.254.0.21/30", "dev", "hvabcd1234h"],
        ["ip", "link", "set", "hvabcd1234h", "up"],
        ["ip", "-n", "harness-abcd1234", "addr", "add", "169.254.0.22/30", "dev", "hvabcd1234n"],
        ["ip", "-n", "harness-abcd1234", "link", "set", "hvabcd1234n", "up"],
        ["ip", "-n", "harness-abcd1234", "link", "set", "lo", "up"],
    ]
    assert delete_commands(link.netns, link.host_if) == [
        ["ip", "netns", "delete", "harness-abcd1234"],
        ["ip", "link", "delete", "hvabcd1234h"],
    ]
    assert exec_prefix(link) == ["ip", "netns", "exec", "harness-abcd1234"]


class FakeRunner:
    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        code = 1 if self.fail_on and self.fail_on in argv else 0
        return subprocess.CompletedProcess(list(argv), code, stdout="", stderr="boom" if code else "")


def test_a_half_made_namespace_is_still_deleted() -> None:
    runner = FakeRunner(fail_on="veth")
    ns = Namespace(Link("abcd1234", 5), runner)
    try:
        ns.create()
    except RuntimeError as exc:
        assert "boom" in str(exc)
    ns.delete()
    assert ["ip", "netns", "delete", "harness-abcd1234"] in runner.calls
    assert ["ip", "link", "delete", "hvabcd1234h"] in runner.calls


def test_nothing_is_deleted_when_nothing_was_made() -> None:
    runner = FakeRunner()
    Namespace(Link("abcd1234", 5), runner).delete()
    assert not any("delete" in call for call in runner.calls)
