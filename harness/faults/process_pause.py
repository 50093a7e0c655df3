"""`process_pause`: SIGSTOP the target's processes, SIGCONT after duration_s; harness.chaos.process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, host_spec, register


@register("process_pause")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return host_spec(fault, toxic_name)
