"""`target_error`: the embedded target answers an endpoint with an error itself (chaos API `/chaos/errors`),
so the fault sits behind the proxy, where a real IdP's own 5xx would be."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, register, target_spec


@register("target_error")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    rule: dict[str, Any] = {"endpoint": fault.endpoint, "status": fault.status, "probability": fault.probability}
    if fault.retry_after_s is not None:
        rule["retry_after_s"] = fault.retry_after_s
    if fault.aws_error is not None:
        rule["aws_error_type"] = fault.aws_error
    apply = {"method": "PUT", "path": "/chaos/errors", "body": rule}
    remove = {"method": "DELETE", "path": f"/chaos/errors?endpoint={fault.endpoint}", "body": None}
    return target_spec(fault, toxic_name, apply, remove)
