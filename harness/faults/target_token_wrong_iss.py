"""`target_token_wrong_iss`: the embedded target issues tokens whose `iss` names another issuer; a
relying party that checks the issuer refuses them (chaos API `/chaos/forgery`, harness/idp/forgery.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.contract import Forgery
from harness.faults.base import ForgeryFault


class TargetTokenWrongIssFault(ForgeryFault):
    """A share (`probability`) of the tokens the embedded target issues are forged: wrong_iss."""

    type: Literal["target_token_wrong_iss"]
    forgery: ClassVar[Forgery] = "wrong_iss"
