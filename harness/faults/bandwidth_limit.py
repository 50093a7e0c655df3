"""`bandwidth_limit`: a tbf qdisc on the target's side of its namespace link; run by harness.chaos.netfaults."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from harness.faults.base import QdiscFault


class BandwidthLimitFault(QdiscFault):
    """A tbf qdisc on the target's side of the link: responses flow at rate_kbit_s kilobits per second."""

    type: Literal["bandwidth_limit"]
    kernel_feature: ClassVar[Literal["nftables", "tbf", "netem"]] = "tbf"
    rate_kbit_s: Annotated[int, Field(ge=8, le=10_000_000)]
    burst_bytes: Annotated[int, Field(ge=1600, le=100_000_000)] = 32_768
    queue_latency_ms: Annotated[float, Field(gt=0, le=60_000)] = 50.0

    def qdisc_args(self) -> list[str]:
        return ["tbf", "rate", f"{self.rate_kbit_s}kbit", "burst", str(self.burst_bytes),
                "latency", f"{self.queue_latency_ms:g}ms"]  # fmt: skip
