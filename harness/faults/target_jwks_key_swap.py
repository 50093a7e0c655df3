"""`target_jwks_key_swap`: the embedded target's JWKS serves an attacker's key under the genuine signing
kid, and tokens are signed with that key: a relying party that keeps the key it knows refuses them, one
that refetches the JWKS on a bad signature accepts them (chaos API `/chaos/forgery`,
harness/idp/forgery.py)."""

from __future__ import annotations

from typing import ClassVar, Literal

from harness.contract import Forgery
from harness.faults.base import ForgeryFault


class TargetJwksKeySwapFault(ForgeryFault):
    """A share (`probability`) of the tokens the embedded target issues are forged: jwks_key_swap."""

    type: Literal["target_jwks_key_swap"]
    forgery: ClassVar[Forgery] = "jwks_key_swap"
