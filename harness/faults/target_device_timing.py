"""`target_device_timing`: device codes the embedded target issues get this polling interval and lifetime
(chaos API `/chaos/device`); the target's own options again at the phase end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, target_spec


@register("target_device_timing")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    body = {"interval_s": fault.interval_s, "expires_in_s": fault.expires_in_s}
    apply = {"method": "PUT", "path": "/chaos/device", "body": body}
    remove = {"method": "PUT", "path": "/chaos/device", "body": {"interval_s": None, "expires_in_s": None}}
    return target_spec(fault, toxic_name, apply, remove)
