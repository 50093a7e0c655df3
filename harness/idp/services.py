"""What one server process holds for its lifetime: config, store, keys, token issuer, audit sink, flow
state, chaos state and rate limiters. Built once at startup (the app's lifespan) and shared by every
face's handlers; `refresh_control` keeps chaos state and keys in step with the other workers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness.idp import bearer
from harness.idp.audit import Audit, open_audit
from harness.idp.chaos import ChaosState
from harness.idp.config import TargetConfig
from harness.idp.flowstore import FlowStore
from harness.idp.forgery import Forger
from harness.idp.keys import SUPPORTED_ALGS, KeyRing
from harness.idp.ratelimit import AttemptLimiter, RateLimiter
from harness.idp.store import Store, TokenRecord
from harness.idp.tokens import TokenIssuer


@dataclass
class Services:
    config: TargetConfig
    store: Store
    keys: KeyRing
    tokens: TokenIssuer
    audit: Audit
    flows: FlowStore
    user_code_attempts: AttemptLimiter
    chaos: ChaosState = field(default_factory=ChaosState)
    limiter: RateLimiter | None = None
    generation: int = -1
    next_activation: int | None = None

    @classmethod
    def open(cls, config: TargetConfig, chaos: ChaosState | None = None) -> Services:
        store = Store(config.db_path)
        try:
            store.initialize()
            keys = load_keys(store, config)
            audit = open_audit(config.audit_log)
        except BaseException:
            store.close()
            raise
        tokens = TokenIssuer(
            store,
            keys,
            issuer=config.issuer,
            audience=config.token_audience,
            access_token_ttl_s=config.access_token_ttl_s,
        )
        limiter = RateLimiter(config.rate_limit_per_client) if config.rate_limit_per_client else None
        services = cls(
            config=config, store=store, keys=keys, tokens=tokens, audit=audit, flows=FlowStore(store),
            user_code_attempts=AttemptLimiter(burst=config.user_code_attempts_burst,
                                              per_min=config.user_code_attempts_per_min),
            chaos=chaos or ChaosState(), limiter=limiter,
        )
        services.refresh_control()
        return services

    def refresh_control(self, now: float | None = None) -> None:
        """Apply the shared chaos state and keys if another worker (or the chaos API) changed them, and
        promote a pending signing key that is due."""
        now_s = int(time.time() if now is None else now)
        if self.next_activation is not None and self.next_activation <= now_s:
            self.store.promote_due_keys(now_s)
        generation, chaos_json = self.store.control()
        if generation == self.generation:
            return
        self.generation = generation
        self.chaos.replace_with(ChaosState.from_json(chaos_json))
        self.tokens.skew_s = self.chaos.clock_skew_s
        self.keys = load_keys(self.store, self.config)
        self.tokens.keys = self.keys
        self.tokens.forger = Forger.from_state(self.chaos.forgeries, self.chaos.rogue_pem, self.keys)
        self.next_activation = self.store.next_activation()

    @property
    def jwks_json(self) -> bytes:
        """The JWKS document as served: the key ring's, or the forger's while it swaps a key in."""
        forger = self.tokens.forger
        return forger.jwks_json if forger is not None else self.keys.jwks_json

    def access_token(self, token: str) -> TokenRecord | None:
        """The record of a valid access token presented to us (bearer.py says what valid means)."""
        expected = bearer.Expected(self.config.issuer, self.config.token_audience, self.tokens.skew_s)
        return bearer.token_record(self.keys, self.store, token, expected)

    def retry_after_s(self, client_id: str) -> int | None:
        """None when the client is within its rate limit (or there is none)."""
        return None if self.limiter is None else self.limiter.retry_after_s(client_id)

    def close(self) -> None:
        try:
            self.audit.close()
        finally:
            self.store.close()


def load_keys(store: Store, config: TargetConfig) -> KeyRing:
    # A retired key stays published until every token it signed has expired (plus the largest skew).
    retention_s = max(config.access_token_ttl_s, config.id_token_ttl_s) + 300
    others = [alg for alg in SUPPORTED_ALGS if alg != config.signing_alg]
    return KeyRing.load(store, config.signing_alg, retention_s=retention_s, also=others)
