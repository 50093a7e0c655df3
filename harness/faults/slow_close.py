"""`slow_close`: Toxiproxy's slow_close toxic: the close (FIN) waits delay_ms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, tcp_toxic


@register("slow_close")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return tcp_toxic(fault, toxic_name, "slow_close", {"delay": fault.delay_ms})
