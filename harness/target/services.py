"""What one server process holds for its lifetime: config, store, keys, token issuer, audit sink.
Built once at startup (the app's lifespan) and shared by every face's handlers."""

from __future__ import annotations

from dataclasses import dataclass

from harness.target.audit import Audit, open_audit
from harness.target.config import TargetConfig
from harness.target.keys import KeyRing
from harness.target.store import Store
from harness.target.tokens import TokenIssuer


@dataclass
class Services:
    config: TargetConfig
    store: Store
    keys: KeyRing
    tokens: TokenIssuer
    audit: Audit

    @classmethod
    def open(cls, config: TargetConfig) -> Services:
        store = Store(config.db_path)
        try:
            store.initialize()
            keys = KeyRing.load(store, config.signing_alg)
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
        return cls(config=config, store=store, keys=keys, tokens=tokens, audit=audit)

    def close(self) -> None:
        try:
            self.audit.close()
        finally:
            self.store.close()
