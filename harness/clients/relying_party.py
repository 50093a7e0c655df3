"""A relying party's token check: signature against a cached JWKS (refetched once on an unknown `kid`),
an allow-list of algorithms, then iss, aud, exp, nbf and nonce. It fails closed: a token it cannot
verify (JWKS unreachable, unknown key, any parse error) is refused, never waved through.

Verdicts are fixed words (`bad_signature`, `expired`...), so they can go into records; library messages
and token contents never do.

`lax` exists for negative controls only (a scenario's `testing:` block): each entry is one real-world
mistake that lets one forgery of the target's through, to prove the fail-closed SLO can fail. Nothing
else sets it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from harness.clients.caller import Caller
from harness.clients.oauth import json_object
from harness.clients.provider import Provider
from harness.contract import Outcome
from harness.scenario.model import LaxCheck

ALLOWED_ALGS = ("RS256", "ES256", "PS256", "RS384", "ES384", "RS512", "EdDSA")
_KEY_MEMBERS = frozenset({"kty", "crv", "n", "e", "x", "y"})  # what defines a public key (RFC 7638)
LEEWAY_S = 30.0


@dataclass
class Verdict:
    accepted: bool
    reason: str  # "valid" or why it was refused
    claims: dict[str, Any] = field(default_factory=dict, repr=False)
    fetch_outcome: Outcome = "ok"  # not ok when the JWKS could not be fetched (refused for that reason)


class JwksCache:
    """The keys of one provider, fetched through the Caller (so each fetch is a recorded `jwks` step).

    A kid's key is pinned for `max_age_s` from when it was first seen: a refetched JWKS that names a known
    kid with other key material (RFC 7517 4.5: a kid names one key) keeps the known key, so an attacker
    who can serve the JWKS cannot swap a key under a kid the relying party already trusts. A provider
    that re-keys a kid legitimately is believed once the pin has aged out."""

    def __init__(self, provider: Provider, caller: Caller, flow: str, max_age_s: float = 300.0,
                 min_refetch_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.provider, self.caller, self.flow, self.max_age_s, self.clock = provider, caller, flow, max_age_s, clock
        self.min_refetch_s = min_refetch_s  # unknown kids must not turn into a JWKS request per token
        self.keys: dict[str, Any] = {}
        self.fetched_at: float | None = None
        self._pins: dict[str, tuple[tuple[tuple[str, str], ...], float]] = {}  # kid -> (key material, since)

    def key(self, kid: str) -> tuple[Any | None, Outcome]:
        age = None if self.fetched_at is None else self.clock() - self.fetched_at
        stale = age is None or age > self.max_age_s
        if stale or (kid not in self.keys and age is not None and age >= self.min_refetch_s):
            outcome = self.refresh()
            if kid not in self.keys:
                return None, outcome
        return self.keys.get(kid), "ok"

    def refresh(self, *, trust_changed_keys: bool = False) -> Outcome:
        """Fetch the JWKS again; `trust_changed_keys` (a negative control's lax way only) lifts the pins."""
        url = self.provider.url("jwks")
        if url is None:
            return "protocol_error"
        result = self.caller.call(self.flow, "jwks", "GET", url, endpoint="jwks",
                                  validate=lambda r: None if isinstance((json_object(r) or {}).get("keys"), list)
                                  else "protocol_error")
        if not result.ok:
            return result.outcome  # keep the old keys: a rotation is not a revocation
        now = self.clock()
        keys: dict[str, Any] = {}
        for jwk in (result.json() or {}).get("keys", []):
            try:
                parsed = jwt.PyJWK.from_dict(jwk)
            except Exception:  # an unusable key (unknown kty, private parts missing...) is skipped
                continue
            kid = parsed.key_id
            if not kid:
                continue
            material = tuple(sorted((k, str(v)) for k, v in jwk.items() if k in _KEY_MEMBERS))
            pinned = self._pins.get(kid)
            if pinned is not None and pinned[0] != material and now - pinned[1] < self.max_age_s \
                    and kid in self.keys and not trust_changed_keys:
                keys[kid] = self.keys[kid]  # another key under a kid we trust: keep ours
                continue
            if pinned is None or pinned[0] != material:
                self._pins[kid] = (material, now)
            keys[kid] = parsed
        self.keys, self.fetched_at = keys, now
        return "ok"


class RelyingParty:
    def __init__(self, jwks: JwksCache, *, issuer: str | None, audience: str | None,
                 clock: Callable[[], float] = time.time, leeway_s: float = LEEWAY_S,
                 lax: frozenset[LaxCheck] = frozenset()):  # fmt: skip
        self.jwks, self.issuer, self.audience, self.clock = jwks, issuer, audience, clock
        self.leeway_s = leeway_s  # how far exp and nbf may be off the relying party's clock
        self.lax = lax  # TEST ONLY (see the module docstring)

    def verify(self, token: str, *, audience: str | None = None, nonce: str | None = None,
               now: float | None = None) -> Verdict:
        try:
            header = jwt.get_unverified_header(token)
        except Exception:
            return Verdict(False, "malformed")
        alg, kid = header.get("alg"), header.get("kid")
        if alg == "none" and "accept_alg_none" in self.lax:
            return self._unsigned(token, audience, nonce, now)
        if alg not in ALLOWED_ALGS:
            return Verdict(False, "alg_not_allowed")
        if not isinstance(kid, str):
            return Verdict(False, "no_kid")
        key, fetched = self.jwks.key(kid)
        if key is None and "trust_header_jwk" in self.lax and isinstance(header.get("jwk"), dict):
            key = _header_key(header["jwk"], alg)
        if key is None:
            return Verdict(False, "unknown_kid" if fetched == "ok" else "jwks_unavailable", fetch_outcome=fetched)
        if key.algorithm_name and key.algorithm_name != alg:
            return Verdict(False, "alg_mismatch")
        try:
            claims = self._decode(token, key, alg)
        except jwt.InvalidSignatureError:
            refetched = self._after_refetch(token, kid, alg) if "refetch_on_bad_signature" in self.lax else None
            if refetched is None:
                return Verdict(False, "bad_signature")
            claims = refetched
        except Exception:
            return Verdict(False, "malformed")
        return self._claims(claims, audience or self.audience, nonce, self.clock() if now is None else now)

    def _after_refetch(self, token: str, kid: str, alg: str) -> dict[str, Any] | None:
        """The lax way (refetch_on_bad_signature): believe whatever the JWKS says now, refetch guard and
        pinned keys or not; the claims if the token verifies under that, else None."""
        self.jwks.refresh(trust_changed_keys=True)
        key = self.jwks.keys.get(kid)
        try:
            return self._decode(token, key, alg) if key is not None else None
        except Exception:
            return None

    @staticmethod
    def _decode(token: str, key: Any, alg: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(token, key.key, algorithms=[alg], options={
            "verify_exp": False, "verify_aud": False, "verify_iss": False, "verify_iat": False, "verify_nbf": False})
        return claims

    def _unsigned(self, token: str, audience: str | None, nonce: str | None, now: float | None) -> Verdict:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except Exception:
            return Verdict(False, "malformed")
        return self._claims(claims, audience or self.audience, nonce, self.clock() if now is None else now)

    def _claims(self, claims: dict[str, Any], audience: str | None, nonce: str | None, now: float) -> Verdict:
        lax = self.lax
        if self.issuer is not None and claims.get("iss") != self.issuer and "skip_issuer" not in lax:
            return Verdict(False, "wrong_issuer")
        if audience is not None and "skip_audience" not in lax:
            aud = claims.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if audience not in auds:
                return Verdict(False, "wrong_audience")
        if "skip_expiry" not in lax:
            exp = claims.get("exp")
            if not isinstance(exp, int | float) or now > exp + self.leeway_s:
                return Verdict(False, "expired")
            nbf = claims.get("nbf")
            if isinstance(nbf, int | float) and now + self.leeway_s < nbf:
                return Verdict(False, "not_yet_valid")
        if nonce is not None and claims.get("nonce") != nonce and "skip_nonce" not in lax:
            return Verdict(False, "wrong_nonce")
        return Verdict(True, "valid", claims)


def _header_key(jwk: dict[str, Any], alg: object) -> Any | None:
    """The lax way (trust_header_jwk): the key a token carries in its own header (CVE-2018-0114's shape)."""
    try:
        return jwt.PyJWK.from_dict(jwk, algorithm=alg if isinstance(alg, str) else None)
    except Exception:
        return None


# --- invalid tokens made from a genuine one, for the fail-closed checks --------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_bad_signature(token: str) -> str:
    head, body, sig = token.split(".")
    middle = len(sig) // 2
    flipped = "A" if sig[middle] != "A" else "B"
    return f"{head}.{body}.{sig[:middle]}{flipped}{sig[middle + 1:]}"


def with_alg_none(token: str) -> str:
    head, body, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return f"{_b64(json.dumps({**header, 'alg': 'none'}).encode())}.{body}."


def with_unknown_kid(token: str) -> str:
    head, body, sig = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return f"{_b64(json.dumps({**header, 'kid': 'harness-unknown-kid'}).encode())}.{body}.{sig}"


def is_jwt(token: str) -> bool:
    """A JWS in compact form (three base64url parts, a JSON header): what a relying party can check locally."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        return isinstance(json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4))), dict)
    except ValueError:
        return False


def with_one_char_changed(token: str) -> str:
    middle = len(token) // 2
    return f"{token[:middle]}{'A' if token[middle] != 'A' else 'B'}{token[middle + 1:]}"


def forgeries(token: str) -> list[tuple[str, str]]:
    """(name, forged token) made from a genuine access token, JWT or opaque (RFC 6749 1.4: its form is the
    provider's business)."""
    if is_jwt(token):
        return [("forged", with_bad_signature(token)), ("alg_none", with_alg_none(token))]
    return [("forged", with_one_char_changed(token))]
