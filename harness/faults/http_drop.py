"""`http_drop`: the proxy reads a matching request, then closes or resets the connection unanswered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, http_match, register


@register("http_drop")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return {
        "name": toxic_name,
        "type": "http_drop",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {**http_match(fault, paths), "probability": fault.probability, "mode": fault.mode},
    }
