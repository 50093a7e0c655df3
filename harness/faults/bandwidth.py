"""`bandwidth`: Toxiproxy's bandwidth toxic: the direction flows at rate_kbps KB/s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, tcp_toxic


@register("bandwidth")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return tcp_toxic(fault, toxic_name, "bandwidth", {"rate": fault.rate_kbps})
