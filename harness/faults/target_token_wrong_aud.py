"""`target_token_wrong_aud`: the embedded target issues tokens whose `aud` names another audience; a
relying party that checks the audience refuses them (chaos API `/chaos/forgery`, harness/idp/forgery.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.contract import Forgery
from harness.faults.base import ForgeryFault


class TargetTokenWrongAudFault(ForgeryFault):
    """A share (`probability`) of the tokens the embedded target issues are forged: wrong_aud."""

    type: Literal["target_token_wrong_aud"]
    forgery: ClassVar[Forgery] = "wrong_aud"
