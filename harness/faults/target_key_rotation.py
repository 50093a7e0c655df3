"""`target_key_rotation`: the embedded target rotates its signing key (chaos API `/chaos/keys/rotate`).
Nothing to undo: the old key stays published until its tokens expire, as after a real rotation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from harness.contract import ChaosRequest
from harness.faults.base import TargetFault


class TargetKeyRotationFault(TargetFault):
    """The embedded target rotates its signing key at the phase start (not undone at the phase end: a
    rotation is permanent). publish_lead_s 0: the new key signs at once, before verifiers refetch."""

    type: Literal["target_key_rotation"]
    publish_lead_s: Annotated[int, Field(ge=0, le=86_400)] = 0
    alg: Literal["RS256", "ES256"] | None = None  # None: the target's signing_alg

    def chaos_requests(self) -> tuple[ChaosRequest, ChaosRequest | None]:
        body: dict[str, Any] = {"publish_lead_s": self.publish_lead_s}
        if self.alg is not None:
            body["alg"] = self.alg
        return {"method": "POST", "path": "/chaos/keys/rotate", "body": body}, None
