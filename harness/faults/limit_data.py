"""`limit_data`: Toxiproxy's limit_data toxic: limit_bytes pass, then the connection closes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, tcp_toxic


@register("limit_data")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return tcp_toxic(fault, toxic_name, "limit_data", {"bytes": fault.limit_bytes})
