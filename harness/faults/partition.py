"""`partition`: nftables drops every packet on the target's namespace link; harness.chaos.netfaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, host_spec, register


@register("partition")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return host_spec(fault, toxic_name)
