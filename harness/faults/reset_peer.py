"""`reset_peer`: Toxiproxy's reset_peer toxic: an RST timeout_ms after the first data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, tcp_toxic


@register("reset_peer")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return tcp_toxic(fault, toxic_name, "reset_peer", {"timeout": fault.timeout_ms})
