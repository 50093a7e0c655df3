"""nft rulesets and tc arguments of the network faults, without running them."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest

from harness.chaos.netfaults import NetFaults, apply_commands, nft_ruleset, probe, remove_commands
from harness.chaos.netns import Link
from harness.faults.bandwidth_limit import BandwidthLimitFault
from harness.faults.base import NftFault
from harness.faults.packet_corrupt import PacketCorruptFault
from harness.faults.packet_delay import PacketDelayFault
from harness.faults.packet_loss import PacketLossFault
from harness.faults.packet_reorder import PacketReorderFault
from harness.faults.partition import PartitionFault
from harness.faults.tcp_reject import TcpRejectFault

LINK = Link("abcd1234", 5)


def ruleset(fault: NftFault) -> str:
    return nft_ruleset("t", fault.nft_rules("veth0"))
NS = ["ip", "netns", "exec", "harness-abcd1234"]
CHAIN = "{ type filter hook %s priority -10 ; policy accept ; }"


def test_packet_loss_both_directions() -> None:
    rules = ruleset(PacketLossFault(type="packet_loss", percent=12.5))
    assert rules == " ; ".join([
        "add table inet t",
        f"add chain inet t input {CHAIN % 'input'}",
        f"add chain inet t output {CHAIN % 'output'}",
        'add rule inet t input iifname "veth0" numgen random mod 10000 < 1250 drop',
        'add rule inet t output oifname "veth0" numgen random mod 10000 < 1250 drop',
    ])  # fmt: skip


def test_partition_one_direction() -> None:
    rules = ruleset(PartitionFault(type="partition", direction="from_target"))
    chain = CHAIN % "output"
    assert rules == f'add table inet t ; add chain inet t output {chain} ; add rule inet t output oifname "veth0" drop'


def test_tcp_reject_sends_rst_towards_the_client() -> None:
    rules = ruleset(TcpRejectFault(type="tcp_reject"))
    assert rules.endswith('add rule inet t input iifname "veth0" meta l4proto tcp reject with tcp reset')
    some = ruleset(TcpRejectFault(type="tcp_reject", percent=25))
    assert "numgen random mod 10000 < 2500 reject with tcp reset" in some


def test_every_command_runs_inside_the_namespace() -> None:
    loss = PacketLossFault(type="packet_loss", percent=5)
    assert apply_commands(LINK, "harness_abcd1234_1", loss)[0][:5] == [*NS, "nft"]
    assert remove_commands(LINK, "harness_abcd1234_1", loss) == [
        [*NS, "nft", "delete", "table", "inet", "harness_abcd1234_1"]
    ]
    tbf = BandwidthLimitFault(type="bandwidth_limit", rate_kbit_s=256)
    assert apply_commands(LINK, "x", tbf) == [
        [*NS, "tc", "qdisc", "replace", "dev", "hvabcd1234n", "root", "tbf", "rate", "256kbit", "burst", "32768",
         "latency", "50ms"]
    ]  # fmt: skip
    assert remove_commands(LINK, "x", tbf) == [[*NS, "tc", "qdisc", "del", "dev", "hvabcd1234n", "root"]]


def test_netem_arguments() -> None:
    assert PacketDelayFault(type="packet_delay", delay_ms=100, jitter_ms=10).qdisc_args() == [
        "netem", "delay", "100ms", "10ms"
    ]  # fmt: skip
    assert PacketCorruptFault(type="packet_corrupt", percent=2).qdisc_args() == ["netem", "corrupt", "2%"]
    assert PacketReorderFault(type="packet_reorder", percent=25).qdisc_args() == [
        "netem", "delay", "10ms", "reorder", "75%"
    ]  # fmt: skip


class Runner:
    def __init__(self, unknown: str = "") -> None:
        self.calls: list[list[str]] = []
        self.unknown = unknown

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        code = 2 if self.unknown and self.unknown in argv and "add" in argv else 0
        return subprocess.CompletedProcess(list(argv), code, "", "Specified qdisc kind is unknown." if code else "")


def test_probe_reports_what_the_kernel_lacks_and_undoes_what_it_tried() -> None:
    runner = Runner(unknown="netem")
    assert probe(LINK, runner) == {"netem": False, "tbf": True, "nftables": True}
    assert all(call[:4] == NS for call in runner.calls)
    assert [*NS, "nft", "delete", "table", "inet", "harness_abcd1234_probe"] in runner.calls


def test_applier_gives_each_fault_its_own_table_and_removes_all_on_close() -> None:
    runner = Runner()
    faults = NetFaults(LINK, runner)
    faults.apply("a", PartitionFault(type="partition"))
    faults.apply("b", PacketLossFault(type="packet_loss", percent=1))
    with pytest.raises(RuntimeError, match="one qdisc fault"):
        faults.apply("c", BandwidthLimitFault(type="bandwidth_limit", rate_kbit_s=8))
        faults.apply("d", PacketDelayFault(type="packet_delay", delay_ms=1))
    assert faults.close() == []
    deleted = [c[-1] for c in runner.calls if "delete" in c]
    assert sorted(deleted) == ["harness_abcd1234_1", "harness_abcd1234_2"]
    assert [*NS, "tc", "qdisc", "del", "dev", "hvabcd1234n", "root"] in runner.calls
