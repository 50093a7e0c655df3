"""`target_key_rotation`: the embedded target rotates its signing key (chaos API `/chaos/keys/rotate`).
Nothing to undo: the old key stays published until its tokens expire, as after a real rotation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, target_spec


@register("target_key_rotation")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    body: dict[str, Any] = {"publish_lead_s": fault.publish_lead_s}
    if fault.alg is not None:
        body["alg"] = fault.alg
    return target_spec(fault, toxic_name, {"method": "POST", "path": "/chaos/keys/rotate", "body": body}, None)
