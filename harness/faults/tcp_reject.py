"""`tcp_reject`: nftables answers TCP towards the target with RST; run by harness.chaos.netfaults."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.faults.base import NftFault, nft_odds


class TcpRejectFault(NftFault):
    """Answer TCP packets towards the target with a RST (nftables `reject with tcp reset`)."""

    type: Literal["tcp_reject"]
    percent: Annotated[float, Field(gt=0, le=100)] = 100.0

    def nft_rules(self, ns_if: str) -> list[tuple[str, str]]:
        return [("input", f'iifname "{ns_if}" meta l4proto tcp {nft_odds(self.percent)}reject with tcp reset')]
