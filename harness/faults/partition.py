"""`partition`: nftables drops every packet on the target's namespace link; run by harness.chaos.netfaults."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import LinkDirection, NftFault, link_rules


class PartitionFault(NftFault):
    """Drop every packet on the link (one direction or both)."""

    type: Literal["partition"]
    direction: LinkDirection = "both"

    def nft_rules(self, ns_if: str) -> list[tuple[str, str]]:
        return link_rules(ns_if, self.direction, "drop")
