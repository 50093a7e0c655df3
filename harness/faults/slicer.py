"""`slicer`: Toxiproxy's slicer toxic: chunks cut into pieces of about average_size_bytes, delay_us apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, tcp_toxic


@register("slicer")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    attributes = {
        "average_size": fault.average_size_bytes,
        "size_variation": fault.size_variation_bytes,
        "delay": fault.delay_us,
    }
    return tcp_toxic(fault, toxic_name, "slicer", attributes)
