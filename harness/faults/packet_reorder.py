"""`packet_reorder`: netem reorder on the target's namespace link (needs sch_netem); run by harness.chaos.netfaults."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from harness.faults.base import QdiscFault


class PacketReorderFault(QdiscFault):
    """netem reorder: percent of packets sent at once, the rest delayed by delay_ms (needs sch_netem)."""

    type: Literal["packet_reorder"]
    kernel_feature: ClassVar[Literal["nftables", "tbf", "netem"]] = "netem"
    percent: Annotated[float, Field(gt=0, le=100)]
    delay_ms: Annotated[float, Field(gt=0, le=60_000)] = 10.0

    def qdisc_args(self) -> list[str]:
        return ["netem", "delay", f"{self.delay_ms:g}ms", "reorder", f"{100 - self.percent:g}%"]
