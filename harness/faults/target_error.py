"""`target_error`: the embedded target answers an endpoint with an error itself (chaos API `/chaos/errors`),
so the fault sits behind the proxy, where a real IdP's own 5xx would be."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field

from harness.contract import ChaosRequest
from harness.endpoints import EndpointName
from harness.faults.base import AwsErrorCode, Probability, TargetFault


class TargetErrorFault(TargetFault):
    """The embedded target itself answers an endpoint with an error (its chaos API), behind any proxy."""

    type: Literal["target_error"]
    endpoint: EndpointName | Literal["*"]
    status: Annotated[int, Field(ge=400, le=599)] = 503
    probability: Probability = 1.0
    retry_after_s: Annotated[float, Field(ge=0)] | None = None  # sent in whole seconds, rounded up
    aws_error: AwsErrorCode | None = None  # sent as x-amzn-ErrorType, so boto3 raises that class

    def chaos_requests(self) -> tuple[ChaosRequest, ChaosRequest | None]:
        rule: dict[str, Any] = {"endpoint": self.endpoint, "status": self.status, "probability": self.probability}
        if self.retry_after_s is not None:
            rule["retry_after_s"] = math.ceil(self.retry_after_s)
        if self.aws_error is not None:
            rule["aws_error_type"] = self.aws_error
        return (
            {"method": "PUT", "path": "/chaos/errors", "body": rule},
            {"method": "DELETE", "path": f"/chaos/errors?endpoint={self.endpoint}", "body": None},
        )
