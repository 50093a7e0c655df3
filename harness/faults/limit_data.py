"""`limit_data`: Toxiproxy's limit_data toxic: limit_bytes pass, then the connection closes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ToxicSpec
from harness.faults.base import TcpFault


class LimitDataFault(TcpFault):
    type: Literal["limit_data"]
    limit_bytes: Annotated[int, Field(ge=0)]

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        return self.tcp_toxic(name, "limit_data", {"bytes": self.limit_bytes})
