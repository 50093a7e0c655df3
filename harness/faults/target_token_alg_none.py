"""`target_token_alg_none`: the embedded target issues unsigned tokens (`alg: none`) under its genuine
kid; a relying party with an algorithm allow-list refuses them (chaos API `/chaos/forgery`,
harness/idp/forgery.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.contract import Forgery
from harness.faults.base import ForgeryFault


class TargetTokenAlgNoneFault(ForgeryFault):
    """A share (`probability`) of the tokens the embedded target issues are forged: alg_none."""

    type: Literal["target_token_alg_none"]
    forgery: ClassVar[Forgery] = "alg_none"
