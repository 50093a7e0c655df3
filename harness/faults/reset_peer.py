"""`reset_peer`: Toxiproxy's reset_peer toxic: an RST timeout_ms after the first data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ToxicSpec
from harness.faults.base import TcpFault


class ResetPeerFault(TcpFault):
    type: Literal["reset_peer"]
    timeout_ms: Annotated[int, Field(ge=0)] = 0  # from the first data to the RST

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        return self.tcp_toxic(name, "reset_peer", {"timeout": self.timeout_ms})
