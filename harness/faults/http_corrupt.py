"""`http_corrupt`: the response to a matching request arrives truncated or with a garbled body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, http_match, register


@register("http_corrupt")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return {
        "name": toxic_name,
        "type": "http_corrupt",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {**http_match(fault, paths), "probability": fault.probability, "mode": fault.mode},
    }
