"""`http_throttle`: a token bucket (rate_per_s, burst) over matching requests; the rest get 429 or the
AWS form (preset: aws; status 400 + SlowDownException is what sso-oidc clients back off on)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ToxicSpec
from harness.faults.base import AnsweringFault


class HttpThrottleFault(AnsweringFault):
    """A token bucket over matching requests (all connections): over the rate, 429 (or AWS SlowDown)."""

    type: Literal["http_throttle"]
    rate_per_s: Annotated[float, Field(gt=0, le=1_000_000)]
    burst: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    status: Annotated[int, Field(ge=400, le=599)] = 429
    retry_after_s: Annotated[float, Field(ge=0)] | None = 1.0

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        attributes = {**self.http_match(paths), "rate": self.rate_per_s, "burst": self.burst,
                      **self.answer_attributes()}  # fmt: skip
        return self.http_toxic(name, "http_throttle", attributes)
