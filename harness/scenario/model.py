"""The scenario: what load to drive, how clients retry, which faults to inject when, which SLOs must hold.

Frozen pydantic models with `extra="forbid"`: validated once at the edge (see `loader.py`), and nothing
past the loader handles raw dicts. `schema.json` in `scenarios/` is exported from these classes.
Size: the Scenario model and its cross-field checks (each naming the field at fault) read as one; what
could leave has (judging.py: SLOs and stop conditions, names.py, live.py: the live outputs).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from harness import plugins
from harness.contract import Env, Outcome
from harness.endpoints import is_loopback
from harness.faults import Channel, Fault, fault_types
from harness.modelbase import Model, PositiveSeconds, Seconds, at_field
from harness.probes import Probe, probe_types

# the judging half of the model, re-exported: `from harness.scenario.model import Slo` keeps working
from harness.scenario.judging import METRIC_FLOOR as METRIC_FLOOR
from harness.scenario.judging import SHARE_METRICS as SHARE_METRICS
from harness.scenario.judging import Metric as Metric
from harness.scenario.judging import Slo as Slo
from harness.scenario.judging import StopCondition as StopCondition
from harness.scenario.judging import StopMetric as StopMetric
from harness.scenario.judging import check_bound as check_bound
from harness.scenario.judging import metric_names as metric_names
from harness.scenario.judging import metric_plugins
from harness.scenario.live import Live
from harness.scenario.names import FlowRef, load_plugins

ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
RETRYABLE_DEFAULT: tuple[Outcome, ...] = ("connect_error", "timeout", "reset", "http_5xx", "http_429")

# --- where the system under test is -------------------------------------------------------------


class EmbeddedTarget(Model):
    """The SSO service shipped with the harness, started for the run."""

    kind: Literal["embedded"] = "embedded"
    signing_alg: Literal["RS256", "ES256"] = "RS256"
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    # run the target in a network namespace the harness creates (root only), joined by a veth pair:
    # what the network faults (packet_loss, partition, ...) act on
    netns: bool = False
    # serve https with a certificate from the run's own CA; the proxy ends TLS and starts it again, and the
    # clients trust the run's CA
    tls: bool = False


class EmbeddedProxy(Model):
    """The harness's own Toxiproxy-compatible fault proxy, started for the run."""

    kind: Literal["embedded"] = "embedded"
    # connections no toxic is acting on are relayed by the proxy's native relay (harness.proxy.relay) when
    # it was built; false keeps every connection in Python (`harness proxy --no-native`): the same answers
    # and counts, slower, for telling a finding of the relay's from one of the provider's
    native_relay: bool = True


class ToxiproxyProxy(Model):
    """An already running Toxiproxy (or `harness proxy`) reached through its API. The run adds its own
    proxy and toxics there and removes exactly those at the end; it never resets what others made."""

    kind: Literal["toxiproxy"]
    api: str = "http://127.0.0.1:8474"

    @model_validator(mode="after")
    def _loopback_only(self) -> ToxiproxyProxy:
        parsed = urlsplit(self.api)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise at_field("api", f"expected an http(s) URL such as http://127.0.0.1:8474 (got {self.api!r})")
        if not is_loopback(parsed.hostname):
            raise at_field("api", f"the proxy must be on loopback (127.0.0.0/8, ::1, localhost), not {parsed.hostname}")
        return self


class ExternalTarget(Model):
    """A standards-compliant provider the harness does not start. OIDC paths come from its discovery
    document; credentials come from the environment variables named here (never from the file). Load
    leaves loopback only for hosts listed in `allow`, and AWS flows need their endpoint listed there too.

    With a proxy, the run reads discovery first and puts one proxy in front of each allowed origin the
    provider's endpoints are on; clients keep the provider's URLs (and so its `iss`) and connect to the
    proxy instead (the origin map, harness.run.origins). Certificates are always verified: against the
    system store, or `ca_bundle` for a private CA; `resolve` gives a host's address as curl's --resolve."""

    kind: Literal["external"]
    issuer: str
    allow: tuple[str, ...] = ()
    client_id_env: str = Field(default=Env.CLIENT_ID, pattern=ENV_NAME)
    client_secret_env: str = Field(default=Env.CLIENT_SECRET, pattern=ENV_NAME)
    username_env: str = Field(default=Env.USERNAME, pattern=ENV_NAME)
    password_env: str = Field(default=Env.PASSWORD, pattern=ENV_NAME)
    scope: str = "openid profile"
    audience: str | None = None  # expected `aud` of access tokens (jwks_validation); default: not checked
    redirect_uri: str = "http://127.0.0.1/callback"
    aws_endpoint: str | None = None  # one listener for sso-oidc and the portal (as AWS_ENDPOINT_URL)
    aws_start_url: str = "https://d-0000000000.awsapps.com/start"
    ca_bundle: str | None = Field(default=None, min_length=1)  # PEM file of the CAs the provider's certificate is from
    resolve: dict[str, str] = Field(default_factory=dict)  # host -> IP address, for split-horizon DNS and tests
    # names the variable holding a users file (`username,password` lines): each simulated user takes one
    users_file_env: str = Field(default=Env.USERS_FILE, pattern=ENV_NAME)

    @model_validator(mode="after")
    def _reaching_the_provider(self) -> ExternalTarget:
        if self.ca_bundle is not None and not Path(self.ca_bundle).expanduser().is_file():
            raise at_field("ca_bundle", f"no such file {self.ca_bundle} (a PEM file of CA certificates)")
        hosts = {urlsplit(u).hostname for u in (self.issuer, self.aws_endpoint) if u} | set(self.allow)
        for host, address in self.resolve.items():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise at_field(f"resolve.{host}", f"expected an IP address (got {address!r})") from None
            if host not in hosts:
                raise at_field(f"resolve.{host}",
                               f"{host} is neither the issuer's nor aws_endpoint's host nor in allow")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _allowed_hosts(self) -> ExternalTarget:
        for name in ("issuer", "aws_endpoint"):
            url = getattr(self, name)
            if url is None:
                continue
            parsed = urlsplit(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise at_field(name, f"expected an http(s) URL (got {url!r})")
            if not is_loopback(parsed.hostname) and parsed.hostname not in self.allow:
                raise at_field(name, f"{parsed.hostname} is not loopback; list it in allow to send load there")
            if parsed.scheme == "http" and not is_loopback(parsed.hostname):
                raise at_field(name, "a non-loopback provider must be reached over https")
        return self


class NoProxy(Model):
    """Load goes straight to the target; only faults that need no proxy are allowed."""

    kind: Literal["none"]


# --- load ----------------------------------------------------------------------------------------


class Load(Model):
    users: Annotated[int, Field(ge=1, le=10_000)] = 10
    spawn_rate: Annotated[float, Field(gt=0)] = 10.0
    think_time_s: tuple[Seconds, Seconds] = (0.5, 1.5)
    # closed: each user waits think_time_s between journeys; open: journeys start at rate_per_s whatever
    # the response times (users cap the concurrency), latency counted from the intended start
    arrival: Literal["closed", "open"] = "closed"
    rate_per_s: Annotated[float, Field(gt=0, le=100_000)] | None = None

    @model_validator(mode="after")
    def _think_time_ordered(self) -> Load:
        low, high = self.think_time_s
        if low > high:
            raise at_field("think_time_s", f"lower bound {low} is above upper bound {high}")
        return self

    @model_validator(mode="after")
    def _open_needs_rate(self) -> Load:
        if self.arrival == "open" and self.rate_per_s is None:
            raise at_field("rate_per_s", "arrival: open needs rate_per_s (journeys started per second)")
        return self


AWS_FLOWS: tuple[str, ...] = ("aws_device_login", "aws_credentials_refresh")


class FlowWeight(Model):
    """One entry of the flow mix. Two entries of the same flow (say, relying parties with and without
    clock leeway) need their own `name`, which records and reports then use as the flow's name.

    `flow` is a registered flow's name (ours or a plugin's `harness.flows` entry point), or a reference
    `module:Class` to a Flow subclass of your own (importable where the run runs)."""

    flow: FlowRef
    weight: Annotated[float, Field(gt=0)] = 1.0
    name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    leeway_s: Annotated[float, Field(ge=0, le=3600)] | None = None  # jwks_validation: exp/nbf leeway (default 30)

    @model_validator(mode="after")
    def _options_fit_the_flow(self) -> FlowWeight:
        if self.leeway_s is not None and self.flow != "jwks_validation":
            raise at_field("leeway_s", f"{self.flow} validates no token locally; leeway_s is for jwks_validation")
        return self

    @property
    def label(self) -> str:
        """The flow's name in records and reports."""
        return self.name or self.flow


# --- retry policy (mapped onto tenacity by harness.clients.policy) -------------------------------


class RetryStop(Model):
    after_attempt: Annotated[int, Field(ge=1, le=100)] | None = 3
    after_delay_s: PositiveSeconds | None = None


class ExponentialWait(Model):
    initial_s: PositiveSeconds = 0.1
    max_s: PositiveSeconds = 5.0
    multiplier: Annotated[float, Field(gt=0)] = 2.0


class RandomWait(Model):
    min_s: Seconds = 0.0
    max_s: PositiveSeconds = 1.0


class RetryWait(Model):
    """Exactly one strategy; with none given clients retry at once."""

    fixed_s: Seconds | None = None
    exponential: ExponentialWait | None = None
    exponential_jitter: ExponentialWait | None = None
    random: RandomWait | None = None

    @model_validator(mode="after")
    def _one_strategy(self) -> RetryWait:
        chosen = [k for k in ("fixed_s", "exponential", "exponential_jitter", "random") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise at_field(chosen[1], f"give one wait strategy, not {len(chosen)} ({', '.join(chosen)})")
        return self


class Timeouts(Model):
    connect: PositiveSeconds = 2.0
    read: PositiveSeconds = 5.0


class CircuitBreaker(Model):
    """Per endpoint and load process (pybreaker): after `fail_max` failures in a row the endpoint is not
    called for `reset_timeout_s`; then one trial call decides. Refused calls end as `circuit_open`."""

    fail_max: Annotated[int, Field(ge=1, le=10_000)] = 5
    reset_timeout_s: PositiveSeconds = 30.0
    success_threshold: Annotated[int, Field(ge=1, le=1_000)] = 1
    trip_on: tuple[Outcome, ...] = ("connect_error", "timeout", "reset", "http_5xx", "http_429")


class RetryBudget(Model):
    """Retries at most `ratio` of the requests of the last `window_s` in one load process, plus a floor of
    `min_retries_per_s` (Finagle's RetryBudget): under a brownout retries stop adding load."""

    ratio: Annotated[float, Field(ge=0, le=10)] = 0.1
    min_retries_per_s: Annotated[float, Field(ge=0)] = 1.0
    window_s: PositiveSeconds = 10.0


class Retry(Model):
    stop: RetryStop = RetryStop()
    wait: RetryWait = RetryWait(exponential_jitter=ExponentialWait())
    retry_on: tuple[Outcome, ...] = RETRYABLE_DEFAULT
    respect_retry_after: bool = True
    max_retry_after_s: PositiveSeconds = 30.0
    timeout_s: Timeouts = Timeouts()
    circuit_breaker: CircuitBreaker | None = None
    budget: RetryBudget | None = None


class Phase(Model):
    # built on first use, not at import: its faults' union comes from the plugin registry (rebuild_models)
    model_config = ConfigDict(defer_build=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    duration_s: Annotated[float, Field(gt=0, le=86_400)]
    faults: tuple[Fault, ...] = ()
    # per-phase load, overriding `load:` for this phase only (a stage of the LoadTestShape)
    users: Annotated[int, Field(ge=0, le=10_000)] | None = None
    spawn_rate: Annotated[float, Field(gt=0)] | None = None
    rate_per_s: Annotated[float, Field(gt=0, le=100_000)] | None = None


# --- test only: negative controls ---------------------------------------------------------------

# Checks a negative control's relying party skips (harness/clients/relying_party.py), each the mistake
# that lets one of the target's forgeries through: skip_audience (target_token_wrong_aud), skip_issuer
# (wrong_iss), skip_expiry (expired), skip_nonce (target_id_token_wrong_nonce), accept_alg_none (alg_none),
# trust_header_jwk (unknown_key), refetch_on_bad_signature (target_jwks_key_swap).
LaxCheck = Literal["skip_audience", "skip_issuer", "skip_expiry", "skip_nonce", "accept_alg_none",
                   "trust_header_jwk", "refetch_on_bad_signature"]  # fmt: skip


class Testing(Model):
    """TEST ONLY. Settings that exist to prove an invariant can fail (a negative control): a run with any
    of them must fail its `fail-closed` SLO. Loading a scenario that sets one warns, at its line."""

    lax_relying_party: tuple[LaxCheck, ...] = Field(min_length=1)


# --- the scenario --------------------------------------------------------------------------------


class Scenario(Model):
    model_config = ConfigDict(defer_build=True)  # its probes' union comes from the registry (rebuild_models)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    description: str = ""
    question: str = Field(default="", max_length=300)  # what the experiment asks; `harness scenarios` lists it
    hypothesis: str = ""  # what the experiment expects to hold; the SLOs are its measurable form
    target: Annotated[EmbeddedTarget | ExternalTarget, Field(discriminator="kind")] = EmbeddedTarget()
    proxy: Annotated[EmbeddedProxy | ToxiproxyProxy | NoProxy, Field(discriminator="kind")] = EmbeddedProxy()
    seed: int = 0
    load: Load = Load()
    # model_construct: a default built without validating, so importing this module looks up no registry
    flows: tuple[FlowWeight, ...] = Field(default=(FlowWeight.model_construct(flow="client_credentials"),),
                                          min_length=1)
    retry: Retry = Retry()
    phases: tuple[Phase, ...] = Field(min_length=1)
    slos: tuple[Slo, ...] = ()
    stop_conditions: tuple[StopCondition, ...] = ()
    # steady-state probes: before and after the load, every `every_s` during it, and as stop conditions
    probes: tuple[Probe, ...] = ()
    live: Live = Live()
    testing: Testing | None = None  # TEST ONLY: negative controls (tests/fixtures/scenarios/negative/)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        names = [p.name for p in self.phases]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise at_field(f"phases.{i}.name", f"phase name {name!r} is used twice; names must be unique")
        for i, slo in enumerate(self.slos):
            for j, phase_name in enumerate(slo.phases or ()):
                if phase_name not in names:
                    raise at_field(
                        f"slos.{i}.phases.{j}", f"no phase named {phase_name!r} (phases: {', '.join(names)})"
                    )
        labels = [fw.label for fw in self.flows]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                where = f"flows.{i}.name" if self.flows[i].name else f"flows.{i}.flow"
                raise at_field(where, f"the flow mix has {label!r} twice; give each entry of one flow its own name")
        for i, slo in enumerate(self.slos):
            for j, flow in enumerate(slo.flows or ()):
                if flow not in labels:
                    raise at_field(f"slos.{i}.flows.{j}", f"no flow named {flow!r} in the mix ({', '.join(labels)})")
        if isinstance(self.target, ExternalTarget) and self.target.aws_endpoint is None:
            for i, fw in enumerate(self.flows):
                if fw.flow in AWS_FLOWS:
                    raise at_field(f"flows.{i}.flow", f"{fw.flow} against an external target needs target.aws_endpoint")
        if isinstance(self.proxy, NoProxy):
            for i, phase in enumerate(self.phases):
                for fault in phase.faults:
                    if fault.channel == "proxy":
                        raise at_field(f"phases.{i}.faults", f"{fault.type} needs a proxy, and proxy.kind is 'none'")
        return self

    @model_validator(mode="after")
    def _probes_fit(self) -> Scenario:
        """Probe names are unique, reach only loopback or allowed hosts, and stop conditions name probes
        that run during the load."""
        names = [p.name for p in self.probes]
        allow = set(self.target.allow) if isinstance(self.target, ExternalTarget) else set()
        for i, probe in enumerate(self.probes):
            if probe.name in names[:i]:
                raise at_field(f"probes.{i}.name", f"probe name {probe.name!r} is used twice; names must be unique")
            for url in probe.urls():
                host = urlsplit(url).hostname or ""
                if not is_loopback(host) and host not in allow:
                    raise at_field(f"probes.{i}.url", f"{host} is not loopback; probes reach loopback or the hosts "
                                                      "in target.allow (an external target's)")  # fmt: skip
        for i, condition in enumerate(self.stop_conditions):
            if condition.probe is None:
                continue
            if condition.probe not in names:
                known = f"probes: {', '.join(names)}" if names else "the scenario has no probes"
                raise at_field(f"stop_conditions.{i}.probe", f"no probe named {condition.probe!r} ({known})")
            if self.probes[names.index(condition.probe)].every_s is None:
                raise at_field(f"stop_conditions.{i}.probe",
                               f"probe {condition.probe!r} runs only before and after the load; give it every_s")
        return self

    @model_validator(mode="after")
    def _faults_need_their_channel(self) -> Scenario:
        """Process faults act on the embedded target's processes, target faults on its chaos API, network
        faults on its namespace."""
        embedded = isinstance(self.target, EmbeddedTarget)
        netns = isinstance(self.target, EmbeddedTarget) and self.target.netns
        for i, phase in enumerate(self.phases):
            for j, fault in enumerate(phase.faults):
                where = f"phases.{i}.faults.{j}.type"
                if fault.channel == "process" and not embedded:
                    raise at_field(where, f"{fault.type} needs target.kind: embedded (the harness owns its processes)")
                if fault.channel == "target" and not embedded:
                    raise at_field(where, f"{fault.type} needs target.kind: embedded (the target's chaos API)")
                if fault.channel == "network" and not netns:
                    raise at_field(where, f"{fault.type} needs target.netns: true (the link it acts on)")
        return self

    # what parameters put in from secret-named variables (harness.scenario.params): the resolved file keeps
    # the ${VAR} text at those paths, and the values join the run's secret scan
    _secret_templates: dict[tuple[str | int, ...], str] = PrivateAttr(default_factory=dict)
    _secret_values: tuple[str, ...] = PrivateAttr(default=())

    def keep_secrets(self, templates: dict[tuple[str | int, ...], str], values: list[str]) -> None:
        self._secret_templates, self._secret_values = dict(templates), tuple(v for v in values if v)

    @property
    def secret_templates(self) -> dict[tuple[str | int, ...], str]:
        return dict(self._secret_templates)

    @property
    def secret_values(self) -> tuple[str, ...]:
        return self._secret_values

    def fault_types(self, *channels: Channel) -> set[str]:
        """The fault types this scenario uses (on `channels`, or on any)."""
        return {f.type for p in self.phases for f in p.faults if not channels or f.channel in channels}

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with every phase `factor` times as long (short rehearsals, CI)."""
        phases = tuple(p.model_copy(update={"duration_s": p.duration_s * factor}) for p in self.phases)
        return self.model_copy(update={"phases": phases})


# --- the parts built from the plugin registry ---------------------------------------------------------

_stale = False


def _registry_replaced() -> None:
    global _stale
    _stale = True


plugins.on_reset(_registry_replaced)


def rebuild_models() -> None:
    """Load the fault and probe types and metric plugins (PluginError, exit 2, naming each that did not load),
    build the models over them; again after the registry was replaced (harness.plugins.use)."""
    global _stale
    load_plugins((fault_types, probe_types, metric_plugins))
    if _stale or not Scenario.__pydantic_complete__:
        Phase.model_rebuild(force=True)
        Scenario.model_rebuild(force=True)
        _stale = False


def check_plugins() -> None:
    """Every plugin of every kind imported and checked against its protocol, before a run starts."""
    load_plugins((lambda: plugins.check_all(("flows",)), fault_types, probe_types, metric_plugins))
