"""`target_store_latency`: every store-backed request of the embedded target waits (chaos API
`/chaos/store_latency`); discovery and JWKS stay fast, as they would with a slow database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, target_spec


@register("target_store_latency")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    apply = {"method": "PUT", "path": "/chaos/store_latency", "body": {"latency_ms": fault.latency_ms}}
    remove = {"method": "PUT", "path": "/chaos/store_latency", "body": {"latency_ms": 0}}
    return target_spec(fault, toxic_name, apply, remove)
