"""`target_store_latency`: every store-backed request of the embedded target waits (chaos API
`/chaos/store_latency`); discovery and JWKS stay fast, as they would with a slow database."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ChaosRequest
from harness.faults.base import TargetFault


class TargetStoreLatencyFault(TargetFault):
    """Every store-backed request of the embedded target waits latency_ms (a slow database)."""

    type: Literal["target_store_latency"]
    latency_ms: Annotated[float, Field(gt=0, le=60_000)]

    def chaos_requests(self) -> tuple[ChaosRequest, ChaosRequest | None]:
        return (
            {"method": "PUT", "path": "/chaos/store_latency", "body": {"latency_ms": self.latency_ms}},
            {"method": "PUT", "path": "/chaos/store_latency", "body": {"latency_ms": 0}},
        )
