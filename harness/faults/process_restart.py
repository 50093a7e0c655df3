"""`process_restart`: stop the target, wait, start it again on the same store and port; harness.chaos.process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, host_spec, register


@register("process_restart")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return host_spec(fault, toxic_name)
