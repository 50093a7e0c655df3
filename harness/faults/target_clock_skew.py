"""`target_clock_skew`: JWTs the embedded target issues carry iat/exp shifted by skew_s (chaos API
`/chaos/clock_skew`); back to 0 at the phase end."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ChaosRequest
from harness.faults.base import TargetFault

WEEK_S = 7 * 24 * 3600


class TargetClockSkewFault(TargetFault):
    """JWTs issued by the embedded target carry iat/exp shifted by skew_s (its clock is wrong)."""

    type: Literal["target_clock_skew"]
    skew_s: Annotated[int, Field(ge=-WEEK_S, le=WEEK_S)]

    def chaos_requests(self) -> tuple[ChaosRequest, ChaosRequest | None]:
        return (
            {"method": "PUT", "path": "/chaos/clock_skew", "body": {"skew_s": self.skew_s}},
            {"method": "PUT", "path": "/chaos/clock_skew", "body": {"skew_s": 0}},
        )
