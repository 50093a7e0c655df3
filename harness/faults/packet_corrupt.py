"""`packet_corrupt`: netem corrupt on the target's namespace link (needs sch_netem); run by harness.chaos.netfaults."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from harness.faults.base import QdiscFault


class PacketCorruptFault(QdiscFault):
    """netem corrupt (only where the kernel has sch_netem)."""

    type: Literal["packet_corrupt"]
    kernel_feature: ClassVar[Literal["nftables", "tbf", "netem"]] = "netem"
    percent: Annotated[float, Field(gt=0, le=100)]

    def qdisc_args(self) -> list[str]:
        return ["netem", "corrupt", f"{self.percent:g}%"]
