"""`target_id_token_wrong_nonce`: the embedded target issues ID tokens whose `nonce` is not the one the
login sent; a relying party that checks the nonce refuses them (chaos API `/chaos/forgery`,
harness/idp/forgery.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.contract import Forgery
from harness.faults.base import ForgeryFault


class TargetIdTokenWrongNonceFault(ForgeryFault):
    """A share (`probability`) of the tokens the embedded target issues are forged: wrong_nonce."""

    type: Literal["target_id_token_wrong_nonce"]
    forgery: ClassVar[Forgery] = "wrong_nonce"
    tokens: tuple[Literal["id"], ...] = Field(default=("id",), min_length=1)  # only ID tokens carry a nonce

