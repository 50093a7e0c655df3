"""An identity provider that misbehaves on purpose (security chaos): while a forgery is switched on through
the chaos API, a share of the tokens the target issues are invalid in one precise way, so that the
harness can show which of them the relying parties catch. Each forgery breaks exactly one thing:

    wrong_aud       `aud` names another audience (FORGED_AUDIENCE)
    wrong_iss       `iss` names another issuer (FORGED_ISSUER)
    expired         `exp` a day in the past (beyond any relying party's leeway)
    unknown_key     signed by a key the JWKS does not publish, under that key's own kid, with the key
                    itself in the header (`jwk`, RFC 7515 4.1.3): the embedded-key trick
    alg_none        `alg: none` and no signature (RFC 7519 6.1), under the genuine kid
    wrong_nonce     ID tokens only: a `nonce` other than the one the login sent
    jwks_key_swap   signed by the rogue key under the genuine signing kid, and the JWKS serves the rogue
                    key under that kid: an attacker who controls the JWKS (a relying party that refetches
                    it on a bad signature is fooled; one that keeps the key it knows is not)

The rogue key lives in the chaos state (the store's control row), so every worker signs with the same
one; it is an attacker's key of the run's own making, never shown by the chaos API. Which tokens of a
response were forged goes out in FORGED_HEADER (harness.contract), set by `ForgeryHeader` from the list
the signing code fills through a context variable. The target's own token checks (bearer.py) refuse
every forged access token: its own resource servers stay safe while its clients are tested. (Flows that
check no token themselves, the device, AWS and refresh flows, just meet those refusals where they use a
forged access token; `scenarios/forged-tokens.yaml` runs the flows that check.)
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.contract import FORGED_HEADER, ForgedToken, Forgery
from harness.idp.keys import KeyRing, SigningKey, private_key_from_pem, public_jwk_members, thumbprint_kid

FORGERIES: tuple[Forgery, ...] = ("wrong_aud", "wrong_iss", "expired", "unknown_key", "alg_none", "wrong_nonce",
                                  "jwks_key_swap")  # fmt: skip
ROGUE_KEY_FORGERIES = frozenset({"unknown_key", "jwks_key_swap"})
FORGED_AUDIENCE = "urn:harness:forged-audience"
FORGED_ISSUER = "https://forged-issuer.invalid"
EXPIRED_BY_S = 24 * 3600

# What the signing code forged for the response being made (a list, so that the middleware's copy of
# the context and a handler's see the same one).
FORGED: ContextVar[list[str] | None] = ContextVar("harness_forged", default=None)


@dataclass(frozen=True)
class ForgeryRule:
    probability: float
    tokens: tuple[ForgedToken, ...] = ("access", "id")


def parse_forgery(data: Mapping[str, Any]) -> tuple[Forgery, ForgeryRule]:
    """Validate one forgery rule from the chaos API; ValueError says what is wrong."""
    kind = data.get("kind")
    if kind not in FORGERIES:
        raise ValueError(f"kind must be one of {', '.join(FORGERIES)}")
    probability = data.get("probability", 1.0)
    if not isinstance(probability, int | float) or isinstance(probability, bool) or not 0 <= probability <= 1:
        raise ValueError("probability must be a number 0..1")
    tokens = data.get("tokens", ["id"] if kind == "wrong_nonce" else ["access", "id"])
    if not isinstance(tokens, list) or not tokens or any(t not in ("access", "id") for t in tokens):
        raise ValueError("tokens must be a non-empty list of access, id")
    if kind == "wrong_nonce" and tokens != ["id"]:
        raise ValueError("wrong_nonce forges ID tokens only (tokens: [id])")
    return kind, ForgeryRule(float(probability), tuple(dict.fromkeys(tokens)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Forger:
    """Signs the tokens of one process while forgeries are on: each rule, in the order switched on, gets
    its chance at each token it applies to; a token no rule takes is signed as usual."""

    def __init__(self, rules: Mapping[Forgery, ForgeryRule], keys: KeyRing, rogue: SigningKey | None,
                 rng: random.Random | None = None):  # fmt: skip
        self.rules, self.keys, self.rogue = dict(rules), keys, rogue
        self.rng = rng or random.Random()
        self.jwks_json = keys.jwks_json
        if "jwks_key_swap" in self.rules and rogue is not None:
            swapped = [{**jwk, **public_jwk_members(rogue.private_key.public_key())} if jwk["kid"] == keys.signer.kid
                       else jwk for jwk in keys.jwks["keys"]]  # fmt: skip
            self.jwks_json = json.dumps({"keys": swapped}, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_state(cls, rules: Mapping[Forgery, ForgeryRule], rogue_pem: str | None, keys: KeyRing) -> Forger | None:
        """The forger for the chaos state's rules (None when none is on); the rogue key signs with the
        genuine signer's algorithm, as an attacker copying its tokens' headers would."""
        if not rules:
            return None
        rogue = None
        if rogue_pem:
            key = private_key_from_pem(rogue_pem.encode("ascii"))
            fits = isinstance(key, rsa.RSAPrivateKey) == keys.signer.alg.startswith("RS")
            rogue = SigningKey(thumbprint_kid(key.public_key()), keys.signer.alg, key) if fits else None
        return cls(rules, keys, rogue)

    def sign(self, token: ForgedToken, claims: Mapping[str, Any], *, typ: str) -> str:
        for kind, rule in self.rules.items():
            if token not in rule.tokens or (kind == "wrong_nonce" and "nonce" not in claims):
                continue
            if kind in ROGUE_KEY_FORGERIES and self.rogue is None:
                continue
            if self.rng.random() < rule.probability:
                forged = self._forge(kind, dict(claims), typ)
                noted = FORGED.get()
                if noted is not None:
                    noted.append(f"{token}_token={kind}")
                return forged
        return self.keys.sign(claims, typ=typ)

    def _forge(self, kind: Forgery, claims: dict[str, Any], typ: str) -> str:
        signer = self.keys.signer
        if kind == "wrong_aud":
            claims["aud"] = FORGED_AUDIENCE
        elif kind == "wrong_iss":
            claims["iss"] = FORGED_ISSUER
        elif kind == "expired":
            issued = int(claims.get("iat", 0)) - 2 * EXPIRED_BY_S
            claims.update(iat=issued, exp=issued + EXPIRED_BY_S)
        elif kind == "wrong_nonce":
            claims["nonce"] = _b64(self.rng.randbytes(16))
        elif kind == "alg_none":
            header = {"alg": "none", "kid": signer.kid, "typ": typ}
            return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
        elif kind in ROGUE_KEY_FORGERIES:
            assert self.rogue is not None
            rogue = self.rogue
            headers: dict[str, Any] = {"typ": typ, "kid": signer.kid}
            if kind == "unknown_key":
                headers = {"typ": typ, "kid": rogue.kid, "jwk": rogue.public_jwk}
            return jwt.encode(claims, rogue.private_key, algorithm=signer.alg, headers=headers)
        return self.keys.sign(claims, typ=typ)


class ForgeryHeader:
    """Says which tokens of a response were forged (FORGED_HEADER), for requests that may issue tokens
    while a forgery is on. Sits outside the handlers, so that FORGED is set before they run."""

    def __init__(self, app: ASGIApp, forging: Any, paths: frozenset[str]):
        self.app, self.forging, self.paths = app, forging, paths  # forging(): is any forgery on?

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or not self.forging():
            await self.app(scope, receive, send)
            return
        noted: list[str] = []
        reset = FORGED.set(noted)

        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start" and noted:
                headers = [*message.get("headers", []), (FORGED_HEADER.lower().encode(), ", ".join(noted).encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_noting)
        finally:
            FORGED.reset(reset)
