"""`timeout`: Toxiproxy's timeout toxic: data stops; the connection closes after timeout_ms idle (0: at phase end)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, tcp_toxic


@register("timeout")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return tcp_toxic(fault, toxic_name, "timeout", {"timeout": fault.timeout_ms})
