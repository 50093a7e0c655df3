"""What every flow gets (FlowContext) and the journey wrapper around its steps (Flow.run)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.clients.caller import Caller, Journey, OperationResult
from harness.clients.oauth import ClientCredentials, UserCredentials
from harness.clients.provider import Provider
from harness.scenario.model import LaxCheck


@dataclass
class FlowContext:
    caller: Caller
    provider: Provider
    client: ClientCredentials
    user: UserCredentials = field(default_factory=lambda: UserCredentials("", ""))
    scope: str = "openid profile"
    api_scope: str = "api"
    audience: str | None = None
    redirect_uri: str = "http://127.0.0.1/callback"
    lax: frozenset[LaxCheck] = frozenset()  # TEST ONLY: a negative control's relying party (scenario `testing:`)
    aws_start_url: str = "https://d-0000000000.awsapps.com/start"
    rng: random.Random = field(default_factory=random.Random)


class Flow:
    """A journey: `steps()` makes its calls; `run()` wraps them in one journey record and never raises.

    This is also the protocol of a plugin's flow (a `harness.flows` entry point, or `flow: module:Class`):
    subclass it and write `steps()`. `self.ctx` holds the Caller, the provider (its endpoints by logical
    name, found by discovery: `self.ctx.provider.url("token")`), the client's credentials and this
    simulated user's identity (`self.ctx.user`). Make every request through `call` (an endpoint of the
    provider), `aws_call`, or `call_url` (a URL of your own application), so each attempt is recorded and
    retried by the scenario's retry policy; `fail()` marks the journey failed for a reason of your own.
    """

    name: ClassVar[str]  # the flow's kind, as the scenario's `flow:` names it

    def __init__(self, ctx: FlowContext, label: str | None = None):
        self.ctx = ctx
        self.label = label or self.name  # its name in records: the flow-mix entry's `name`, else the kind
        self.journey: Journey | None = None
        self.forged: dict[str, str] = {}  # of the last token response: field -> forgery (oauth.forged_tokens)

    def presented(self, step: str, field: str = "access_token") -> tuple[str, bool]:
        """The step under which a token of the last token response is presented, and whether it is genuine.
        A token the embedded target forged on purpose goes under `<step>_forged_<forgery>`, where it must
        be refused: its acceptance is a security violation, its refusal `ok`, and the genuine tokens'
        steps keep measuring the valid traffic."""
        forgery = self.forged.get(field)
        return (step, True) if forgery is None else (f"{step}_forged_{forgery}", False)

    def run(self) -> bool:
        with self.ctx.caller.journey(self.label) as journey:
            self.journey = journey
            if self.ctx.provider.discover(self.ctx.caller, self.label):
                self.steps()
            else:
                journey.fail("protocol_error")
        return journey.ok

    def steps(self) -> None:
        raise NotImplementedError

    def fail(self, outcome: Any = "protocol_error") -> None:
        if self.journey is not None:
            self.journey.fail(outcome)

    def call(self, step: str, method: str, endpoint: str, **kwargs: Any) -> OperationResult | None:
        """A step to an OIDC endpoint found by discovery; None (and a failed journey) when it has none."""
        url = self.ctx.provider.url(endpoint)
        if url is None:
            self.fail("protocol_error")
            return None
        return self.ctx.caller.call(self.label, step, method, url, endpoint=endpoint, **kwargs)

    def call_url(self, step: str, method: str, url: str, *, endpoint: str = "app",
                 **kwargs: Any) -> OperationResult | None:  # fmt: skip
        """A step to a URL of your own (say, an API that checks the token): loopback or an allowed host
        only; `endpoint` names it in the records. None (and a failed journey) for a URL not allowed."""
        if not self.ctx.provider.allows(url):
            self.fail("protocol_error")
            return None
        return self.ctx.caller.call(self.label, step, method, url, endpoint=endpoint, **kwargs)

    def aws_call(self, step: str, method: str, endpoint: str, **kwargs: Any) -> OperationResult | None:
        url = self.ctx.provider.aws_url(endpoint)
        if url is None:
            self.fail("protocol_error")
            return None
        return self.ctx.caller.call(self.label, step, method, url, endpoint=endpoint, aws=True, **kwargs)
