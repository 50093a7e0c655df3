"""`bandwidth`: Toxiproxy's bandwidth toxic: the direction flows at rate_kbyte_s kilobytes per second."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from harness.contract import ToxicSpec
from harness.faults.base import TcpFault


class BandwidthFault(TcpFault):
    type: Literal["bandwidth"]
    rate_kbyte_s: Annotated[int, Field(ge=1)]  # kilobytes per second, as Toxiproxy's `rate`
    renamed: ClassVar[dict[str, tuple[str, str]]] = {
        "rate_kbps": ("rate_kbyte_s", "kilobytes per second; kbps read as kilobits beside bandwidth_limit's "
                      "rate_kbit_s"),
    }  # fmt: skip

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        return self.tcp_toxic(name, "bandwidth", {"rate": self.rate_kbyte_s})
