"""`jwks_validation`: a relying party validating access tokens against a cached JWKS. Each journey
presents one genuine token and invalid ones made from it (bad signature, alg=none, unknown kid, expired,
wrong audience, and revoked when the provider can revoke). Refusing an invalid token is `ok`; accepting
one is `security_violation`; refusing the genuine one because the JWKS is unreachable is that fetch's
outcome (fail closed, at the cost of availability). A token the embedded target forged on purpose (its
security chaos) is presented under `verify_forged_<forgery>` instead of `verify`, and must be refused.

The relying party expects the scenario's `audience`, and on the embedded target the target's own (its
issuer: the `aud` of every access token it issues, TargetConfig.token_audience), so that a token for
another audience is refused there too.

The token is asked for the audience the relying party checks: with an absolute-URI audience, as an RFC 8707
`resource` (a provider implementing it, e.g. oidc-provider, issues a JWT for that API only when asked; one
that does not ignores the parameter). A provider that will not revoke JWTs (`unsupported_token_type`) skips
the revoked check: a stateless relying party could not have seen a revocation anyway."""

from __future__ import annotations

import time
from typing import ClassVar
from urllib.parse import urlsplit

import jwt

from harness.clients.flows.base import FlowContext
from harness.clients.flows.revocation import RevocationFlow
from harness.clients.relying_party import (
    LEEWAY_S,
    JwksCache,
    RelyingParty,
    with_alg_none,
    with_bad_signature,
    with_unknown_kid,
)

OTHER_AUDIENCE = "urn:harness:some-other-api"


class JwksValidationFlow(RevocationFlow):
    name: ClassVar[str] = "jwks_validation"
    rp: RelyingParty | None = None

    def __init__(self, ctx: FlowContext, label: str | None = None, leeway_s: float | None = None):
        super().__init__(ctx, label)
        self.leeway_s = LEEWAY_S if leeway_s is None else leeway_s

    def relying_party(self) -> RelyingParty:
        if self.rp is None:
            cache = JwksCache(self.ctx.provider, self.ctx.caller, self.label)
            # the discovered issuer is the provider's own, also when reached through the proxy (OIDC
            # Discovery 4.3: it must equal `iss` exactly), so it is checked for the embedded target too
            issuer = self.ctx.provider.issuer
            audience = self.ctx.audience if self.ctx.audience is not None or not self.ctx.provider.rebase else issuer
            self.rp = RelyingParty(cache, issuer=issuer, audience=audience, leeway_s=self.leeway_s, lax=self.ctx.lax)
        return self.rp

    def check(self, step: str, token: str, *, genuine: bool, **verify: object) -> bool:
        t0 = time.perf_counter()
        verdict = self.relying_party().verify(token, **verify)  # type: ignore[arg-type]
        latency_ms = (time.perf_counter() - t0) * 1000.0
        if genuine:
            outcome = "ok" if verdict.accepted else (
                verdict.fetch_outcome if verdict.fetch_outcome != "ok" else "protocol_error")
        else:
            outcome = "security_violation" if verdict.accepted else "ok"
        self.ctx.caller.verdict(self.label, step, "jwks", outcome, latency_ms, verdict.reason)
        return verdict.accepted

    def resource(self) -> str | None:
        audience = self.ctx.audience
        return audience if audience and urlsplit(audience).scheme else None

    def steps(self) -> None:
        token = self.get_token(self.resource())
        if token is None:
            return
        step, genuine = self.presented("verify")
        genuine_accepted = self.check(step, token, genuine=genuine) and genuine
        # The invalid tokens are presented whatever happened to the genuine one: a relying party that is
        # refusing everything (skewed clock, rotated keys) must still be shown to refuse these.
        try:
            claims_exp = jwt.decode(token, options={"verify_signature": False}).get("exp", 0)
        except jwt.PyJWTError:
            claims_exp = 0
        self.check("verify_bad_signature", with_bad_signature(token), genuine=False)
        self.check("verify_alg_none", with_alg_none(token), genuine=False)
        self.check("verify_unknown_kid", with_unknown_kid(token), genuine=False)
        self.check("verify_expired", token, genuine=False, now=float(claims_exp) + 3600)
        self.check("verify_wrong_audience", token, genuine=False, audience=OTHER_AUDIENCE)
        if genuine_accepted and self.ctx.provider.url("revocation") is not None \
                and self.ctx.provider.url("introspection") is not None and self.revoke(token, unsupported_ok=True):
            # a stateless JWT check cannot see a revocation: the relying party asks introspection
            self.introspect("verify_revoked", token, active=False)
