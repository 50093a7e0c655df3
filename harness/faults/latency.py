"""`latency`: delay responses. Aimed at an endpoint or path it delays matching HTTP requests
(`http_latency` toxic); otherwise every chunk the target sends back (Toxiproxy's `latency`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, http_match, register


@register("latency")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    timing = {"latency": round(fault.latency_ms), "jitter": round(fault.jitter_ms)}
    if fault.endpoint is None and fault.path is None:
        return {"name": toxic_name, "type": "latency", "stream": "downstream", "toxicity": 1.0, "attributes": timing}
    return {
        "name": toxic_name,
        "type": "http_latency",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {**timing, **http_match(fault, paths), "probability": 1.0},
    }
