"""`target_token_expired`: the embedded target issues tokens that expired a day ago (past any leeway); a
relying party that checks `exp` refuses them (chaos API `/chaos/forgery`, harness/idp/forgery.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.contract import Forgery
from harness.faults.base import ForgeryFault


class TargetTokenExpiredFault(ForgeryFault):
    """A share (`probability`) of the tokens the embedded target issues are forged: expired."""

    type: Literal["target_token_expired"]
    forgery: ClassVar[Forgery] = "expired"
