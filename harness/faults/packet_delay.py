"""`packet_delay`: netem delay on the target's namespace link (needs sch_netem); run by harness.chaos.netfaults."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from harness.faults.base import QdiscFault


class PacketDelayFault(QdiscFault):
    """netem delay on the target's side of the link (only where the kernel has sch_netem)."""

    type: Literal["packet_delay"]
    kernel_feature: ClassVar[Literal["nftables", "tbf", "netem"]] = "netem"
    delay_ms: Annotated[float, Field(gt=0, le=60_000)]
    jitter_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0

    def qdisc_args(self) -> list[str]:
        jitter = [f"{self.jitter_ms:g}ms"] if self.jitter_ms else []
        return ["netem", "delay", f"{self.delay_ms:g}ms", *jitter]
