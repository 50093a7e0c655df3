"""`timeout`: Toxiproxy's timeout toxic: data stops; the connection closes after timeout_ms idle (0: at phase end)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ToxicSpec
from harness.faults.base import TcpFault


class TimeoutFault(TcpFault):
    """Data stops; the connection closes after timeout_ms without data (0: held until the phase ends)."""

    type: Literal["timeout"]
    timeout_ms: Annotated[int, Field(ge=0)] = 0

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        return self.tcp_toxic(name, "timeout", {"timeout": self.timeout_ms})
