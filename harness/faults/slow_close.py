"""`slow_close`: Toxiproxy's slow_close toxic: the close (FIN) waits delay_ms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ToxicSpec
from harness.faults.base import TcpFault


class SlowCloseFault(TcpFault):
    type: Literal["slow_close"]
    delay_ms: Annotated[int, Field(ge=0)]

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        return self.tcp_toxic(name, "slow_close", {"delay": self.delay_ms})
