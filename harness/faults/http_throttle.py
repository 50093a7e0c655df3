"""`http_throttle`: a token bucket (rate_per_s, burst) over matching requests; the rest get 429 or the
AWS form (preset: aws; status 400 + SlowDownException is what sso-oidc clients back off on)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.faults.registry import ToxicSpec, http_match, preset_attributes, register


@register("http_throttle")
def build(fault: Any, toxic_name: str, paths: Mapping[str, str]) -> ToxicSpec:
    return {
        "name": toxic_name,
        "type": "http_throttle",
        "stream": "upstream",
        "toxicity": 1.0,
        "attributes": {
            **http_match(fault, paths),
            "rate": fault.rate_per_s,
            "burst": fault.burst,
            "status": fault.status,
            "retry_after": math.ceil(fault.retry_after_s or 0),
            **preset_attributes(fault),
        },
    }
