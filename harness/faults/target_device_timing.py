"""`target_device_timing`: device codes the embedded target issues get this polling interval and lifetime
(chaos API `/chaos/device`); the target's own options again at the phase end."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ChaosRequest
from harness.faults.base import TargetFault

DAY_S = 86_400


class TargetDeviceTimingFault(TargetFault):
    """Device codes issued by the embedded target get this polling interval and lifetime (slow_down and
    expiry pressure); back to the target's options at the phase end."""

    type: Literal["target_device_timing"]
    interval_s: Annotated[int, Field(ge=0, le=DAY_S)] | None = None
    expires_in_s: Annotated[int, Field(ge=0, le=DAY_S)] | None = None

    def chaos_requests(self) -> tuple[ChaosRequest, ChaosRequest | None]:
        body = {"interval_s": self.interval_s, "expires_in_s": self.expires_in_s}
        return (
            {"method": "PUT", "path": "/chaos/device", "body": body},
            {"method": "PUT", "path": "/chaos/device", "body": {"interval_s": None, "expires_in_s": None}},
        )
