"""`http_error`: the proxy answers matching requests itself with an error status, with a probability."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, http_match, preset_attributes, register


@register("http_error")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return {
        "name": toxic_name,
        "type": "http_error",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {
            **http_match(fault, paths),
            "status": fault.status,
            "probability": fault.probability,
            "retry_after": math.ceil(fault.retry_after_s or 0),  # the header takes whole seconds
            **preset_attributes(fault),
        },
    }
