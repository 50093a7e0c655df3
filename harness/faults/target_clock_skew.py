"""`target_clock_skew`: JWTs the embedded target issues carry iat/exp shifted by skew_s (chaos API
`/chaos/clock_skew`); back to 0 at the phase end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, target_spec


@register("target_clock_skew")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    apply = {"method": "PUT", "path": "/chaos/clock_skew", "body": {"skew_s": fault.skew_s}}
    remove = {"method": "PUT", "path": "/chaos/clock_skew", "body": {"skew_s": 0}}
    return target_spec(fault, toxic_name, apply, remove)
