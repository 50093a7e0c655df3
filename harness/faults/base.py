"""What a scenario fault type is: a frozen model of its attributes that names the channel applying it, and
what it asks that channel for. One module per type in this package (the Toxiproxy way); `registry.py`
lists them, and every list of fault types (per channel, in the model, in the plan) is derived from there.

The channels:
    proxy     a toxic on the fault proxy (Toxiproxy API): `ProxyFault.toxic()`
    target    the embedded target's own chaos API: `TargetFault.chaos_requests()`
    process   the embedded target's processes, signalled by the orchestrator (harness.chaos.process)
    network   the link of the target's network namespace, by the orchestrator: `NftFault.nft_rules()`
              or `QdiscFault.qdisc_args()`, run by harness.chaos.netfaults
    command   fault actions of the user's own (argv lists, no shell), run by the orchestrator
              (harness.chaos.command): `CommandFault` in command.py
    plugin    a plugin's own fault (`PluginFault.apply()` / `.revert()`), run by the orchestrator
              (harness.chaos.plugin) and reverted on every exit path, as the command channel's
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import Field, model_validator

from harness.contract import ChaosRequest, ForgedToken, Forgery, ToxicSpec
from harness.endpoints import EndpointName
from harness.modelbase import Model, at_field

Channel = Literal["proxy", "target", "process", "network", "command", "plugin"]
AwsErrorCode = Literal["SlowDownException", "TooManyRequestsException", "InternalServerException"]
Probability = Annotated[float, Field(ge=0, le=1)]


class FaultModel(Model):
    """A fault type's attributes. Subclasses set `type` to their wire name (= their module's name)."""

    channel: ClassVar[Channel]
    type: str

    @classmethod
    def wire_type(cls) -> str:
        """The `type:` a scenario writes for this fault."""
        (name,) = get_args(cls.model_fields["type"].annotation)
        return str(name)

    def attributes(self) -> dict[str, Any]:
        """The fault as the scenario gave it, without its type (for the plan and the journal)."""
        return self.model_dump(mode="json", exclude_none=True, exclude={"type"})


# --- proxy: toxics on the fault proxy --------------------------------------------------------------


class ProxyFault(FaultModel):
    channel: ClassVar[Channel] = "proxy"

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        """The toxic to add (paths: logical endpoint name -> path on the provider)."""
        raise NotImplementedError

    def proxy_switch(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """A fault on the proxy itself rather than a toxic on it: the proxy's fields while the fault is on,
        and what they are set back to (POST /proxies/{name}). None: the fault is a toxic."""
        return None

    def aimed_at(self) -> EndpointName | None:
        """The endpoint whose origin the fault acts on; None: every proxied origin."""
        return None


class HttpMatch(ProxyFault):
    """Which requests an HTTP-aware toxic acts on: an endpoint by its logical name, or a path."""

    endpoint: EndpointName | None = None
    path: str | None = Field(default=None, min_length=1)
    match: Literal["exact", "prefix", "regex"] = "exact"
    method: str | None = Field(default=None, pattern=r"^[A-Z]+$")

    @model_validator(mode="after")
    def _endpoint_or_path(self) -> HttpMatch:
        if self.endpoint is not None and self.path is not None:
            raise at_field("path", "give endpoint or path, not both")
        if self.path is not None and self.match == "regex":
            try:
                re.compile(self.path)
            except re.error as exc:
                raise at_field("path", f"not a valid regular expression: {exc}") from None
        elif self.path is not None and not self.path.startswith("/"):
            raise at_field("path", f"a path starts with '/' (got {self.path!r}); use match: regex for patterns")
        return self

    def aimed_at(self) -> EndpointName | None:
        return self.endpoint

    def http_match(self, paths: Mapping[str, str]) -> dict[str, Any]:
        """The request-matching attributes shared by every HTTP-aware toxic."""
        if self.endpoint is not None:
            path, match = paths[self.endpoint], "exact"
        else:
            path, match = self.path or "/", self.match if self.path else "prefix"
        return {"method": self.method or "", "path": path, "match": match}

    def http_toxic(self, name: str, type_name: str, attributes: dict[str, Any]) -> ToxicSpec:
        """HTTP toxics read requests, so they sit on the upstream stream and see every connection."""
        return {"name": name, "type": type_name, "stream": "upstream", "toxicity": 1.0, "attributes": attributes}


class AnsweringFault(HttpMatch):
    """An HTTP toxic that answers in the provider's place: in OAuth's error form or AWS's."""

    status: Annotated[int, Field(ge=400, le=599)] = 503
    retry_after_s: Annotated[float, Field(ge=0)] | None = None
    # oauth: RFC 6749 error JSON; aws: also `x-amzn-ErrorType` (what botocore maps to an exception)
    preset: Literal["oauth", "aws"] | None = None  # None: oauth
    aws_error: AwsErrorCode | None = None

    @model_validator(mode="after")
    def _aws_error_needs_preset(self) -> AnsweringFault:
        if self.aws_error is not None and self.preset != "aws":
            raise at_field("aws_error", "aws_error needs preset: aws")
        return self

    def answer_attributes(self) -> dict[str, Any]:
        """Status, Retry-After (whole seconds, rounded up, as the header takes them) and the preset; the
        preset only when it is not the default, so that older proxies need not know it."""
        out: dict[str, Any] = {"status": self.status, "retry_after": math.ceil(self.retry_after_s or 0)}
        if self.preset not in (None, "oauth"):
            out |= {"preset": self.preset, "aws_error": self.aws_error or ""}
        return out


class TcpFault(ProxyFault):
    """A Toxiproxy TCP toxic: on one direction of every connection, or a share of connections."""

    direction: Literal["downstream", "upstream"] = "downstream"  # downstream: target -> client
    toxicity: Probability = 1.0  # share of connections affected

    def tcp_toxic(self, name: str, type_name: str, attributes: dict[str, Any]) -> ToxicSpec:
        return {"name": name, "type": type_name, "stream": self.direction, "toxicity": self.toxicity,
                "attributes": attributes}  # fmt: skip


# --- target: the embedded target's chaos API -------------------------------------------------------


class TargetFault(FaultModel):
    channel: ClassVar[Channel] = "target"

    def chaos_requests(self) -> tuple[ChaosRequest, ChaosRequest | None]:
        """The chaos API call that switches the fault on, and the one that switches it off (None: nothing
        to undo), sent by the timeline straight to the target, never through the proxy."""
        raise NotImplementedError


class ForgeryFault(TargetFault):
    """The embedded target forges a share of the tokens it issues in one precise way (security chaos:
    harness/idp/forgery.py); the relying parties must refuse every one. Off again at the phase end."""

    forgery: ClassVar[Forgery]
    probability: Probability = 1.0  # share of the tokens it applies to
    tokens: tuple[ForgedToken, ...] = Field(default=("access", "id"), min_length=1)  # access and/or ID tokens

    def chaos_requests(self) -> tuple[ChaosRequest, ChaosRequest | None]:
        body = {"kind": self.forgery, "probability": self.probability, "tokens": list(dict.fromkeys(self.tokens))}
        return (
            {"method": "PUT", "path": "/chaos/forgery", "body": body},
            {"method": "DELETE", "path": f"/chaos/forgery?kind={self.forgery}", "body": None},
        )


# --- process and network: changes the orchestrator makes (harness.chaos) ----------------------------


class ProcessFault(FaultModel):
    """A fault on the embedded target's processes (harness.chaos.process)."""

    channel: ClassVar[Channel] = "process"


class NetworkFault(FaultModel):
    """A kernel-level fault on the veth link of the target's network namespace (needs target.netns)."""

    channel: ClassVar[Channel] = "network"
    kernel_feature: ClassVar[Literal["nftables", "tbf", "netem"]]


class NftFault(NetworkFault):
    """Drops or resets: nftables rules in a table of the fault's own, so removing it is deleting the table."""

    kernel_feature: ClassVar[Literal["nftables", "tbf", "netem"]] = "nftables"

    def nft_rules(self, ns_if: str) -> list[tuple[str, str]]:
        """(chain, rule) pairs for the namespace's end of the link: input is towards the target."""
        raise NotImplementedError


class QdiscFault(NetworkFault):
    """A rate limit or netem: the root qdisc of the namespace's end of the link (one at a time)."""

    def qdisc_args(self) -> list[str]:
        """What follows `tc qdisc replace dev IF root`."""
        raise NotImplementedError


NFT_SCALE = 10_000  # numgen draws 0..9999, so a percent keeps two decimals


def nft_odds(percent: float) -> str:
    """`numgen random mod 10000 < N ` for the share `percent`; nothing when it is every packet."""
    n = round(percent * NFT_SCALE / 100)
    return "" if n >= NFT_SCALE else f"numgen random mod {NFT_SCALE} < {n} "


LinkDirection = Literal["both", "to_target", "from_target"]


def link_rules(ns_if: str, direction: LinkDirection, action: str) -> list[tuple[str, str]]:
    """The (chain, rule) pairs that apply `action` to the link's packets in `direction`."""
    hooks = {"to_target": ("input", "iifname"), "from_target": ("output", "oifname")}
    directions: list[Literal["to_target", "from_target"]] = (
        ["to_target", "from_target"] if direction == "both" else [direction]
    )
    return [(hooks[d][0], f'{hooks[d][1]} "{ns_if}" {action}') for d in directions]


# --- plugin: a fault of a plugin's own, applied and reverted by the orchestrator ------------------------


@dataclass(frozen=True)
class FaultContext:
    """What a plugin fault's `apply` and `revert` get."""

    name: str  # this application of the fault, unique in the run (the timeline's name for it)
    run_dir: Path  # the run directory; write nothing secret there
    log: Callable[[str], None]  # one line to logs/fault-<name>.log
    target_url: str | None = None  # the provider itself (the embedded target's own address, or the issuer)
    base_url: str | None = None  # where the clients' requests go (the fault proxy, or the provider)


class PluginFault(FaultModel):
    """A fault whose action is Python of its own. The orchestrator calls `apply` when the phase starts and
    `revert` when it ends, and also on every other exit path: an error, Ctrl-C, SIGTERM, SIGHUP, and from
    `harness cleanup` (in another process, from the fault's attributes) when the orchestrator itself died.
    So `revert` must undo whatever part of `apply` happened and be safe to call twice. Both run in the
    orchestrator's process, one change at a time; what they return (JSON values) goes to the journal."""

    channel: ClassVar[Channel] = "plugin"
    timeout_s: ClassVar[float] = 60.0  # how long apply or revert may take before the run treats it as failed

    def apply(self, ctx: FaultContext) -> Mapping[str, Any] | None:
        raise NotImplementedError

    def revert(self, ctx: FaultContext) -> Mapping[str, Any] | None:
        raise NotImplementedError
