"""`slicer`: Toxiproxy's slicer toxic: chunks cut into pieces of about average_size_bytes, delay_us apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.contract import ToxicSpec
from harness.faults.base import TcpFault
from harness.modelbase import at_field


class SlicerFault(TcpFault):
    type: Literal["slicer"]
    average_size_bytes: Annotated[int, Field(ge=1)]
    size_variation_bytes: Annotated[int, Field(ge=0)] = 0
    delay_us: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _variation_below_average(self) -> SlicerFault:
        if self.size_variation_bytes >= self.average_size_bytes:
            raise at_field("size_variation_bytes", "must be smaller than average_size_bytes")
        return self

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        attributes = {"average_size": self.average_size_bytes, "size_variation": self.size_variation_bytes,
                      "delay": self.delay_us}  # fmt: skip
        return self.tcp_toxic(name, "slicer", attributes)
