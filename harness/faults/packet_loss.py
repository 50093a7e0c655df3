"""`packet_loss`: nftables random drops on the target's namespace link; run by harness.chaos.netfaults."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.faults.base import LinkDirection, NftFault, link_rules, nft_odds


class PacketLossFault(NftFault):
    type: Literal["packet_loss"]
    percent: Annotated[float, Field(gt=0, le=100)]
    direction: LinkDirection = "both"

    def nft_rules(self, ns_if: str) -> list[tuple[str, str]]:
        return link_rules(ns_if, self.direction, f"{nft_odds(self.percent)}drop")
