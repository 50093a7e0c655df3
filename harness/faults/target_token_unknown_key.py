"""`target_token_unknown_key`: the embedded target issues tokens signed by a key its JWKS does not
publish, carrying that key in their header (`jwk`); a relying party that trusts only the JWKS refuses
them, after one refetch for the unknown kid (chaos API `/chaos/forgery`, harness/idp/forgery.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.contract import Forgery
from harness.faults.base import ForgeryFault


class TargetTokenUnknownKeyFault(ForgeryFault):
    """A share (`probability`) of the tokens the embedded target issues are forged: unknown_key."""

    type: Literal["target_token_unknown_key"]
    forgery: ClassVar[Forgery] = "unknown_key"
