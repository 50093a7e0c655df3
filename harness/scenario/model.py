"""The scenario: what load to drive, how clients retry, which faults to inject when, which SLOs must hold.

Frozen pydantic models with `extra="forbid"`: validated once at the edge (see `loader.py`), and nothing
past the loader handles raw dicts. `schema.json` in `scenarios/` is exported from these classes.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.scenario.endpoints import ENDPOINT_NAMES

Outcome = Literal[
    "ok",
    "http_4xx",
    "http_429",
    "http_5xx",
    "timeout",
    "connect_error",
    "reset",
    "protocol_error",
    "security_violation",
    "circuit_open",  # refused by the client's own circuit breaker: no request was sent
]
RETRYABLE_DEFAULT: tuple[Outcome, ...] = ("connect_error", "timeout", "reset", "http_5xx", "http_429")

EndpointName = Literal[ENDPOINT_NAMES]  # type: ignore[valid-type]
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def at_field(path: str, message: str) -> ValueError:
    """A cross-field error that names the field at fault (relative to the model), so the loader can
    point at the right line instead of at the start of the enclosing mapping."""
    return ValueError(f"[{path}] {message}")


# --- where the system under test is -------------------------------------------------------------


class EmbeddedTarget(Model):
    """The SSO service shipped with the harness, started for the run."""

    kind: Literal["embedded"] = "embedded"
    signing_alg: Literal["RS256", "ES256"] = "RS256"
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    # run the target in a network namespace the harness creates (root only), joined by a veth pair:
    # what the network faults (packet_loss, partition, ...) act on
    netns: bool = False


class EmbeddedProxy(Model):
    """The harness's own Toxiproxy-compatible fault proxy, started for the run."""

    kind: Literal["embedded"] = "embedded"


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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ExternalTarget(Model):
    """A standards-compliant provider the harness does not start. OIDC paths come from its discovery
    document; credentials come from the environment variables named here (never from the file). Load
    leaves loopback only for hosts listed in `allow`, and AWS flows need their endpoint listed there too."""

    kind: Literal["external"]
    issuer: str
    allow: tuple[str, ...] = ()
    client_id_env: str = Field(default="HARNESS_CLIENT_ID", pattern=r"^[A-Z_][A-Z0-9_]*$")
    client_secret_env: str = Field(default="HARNESS_CLIENT_SECRET", pattern=r"^[A-Z_][A-Z0-9_]*$")
    username_env: str = Field(default="HARNESS_USERNAME", pattern=r"^[A-Z_][A-Z0-9_]*$")
    password_env: str = Field(default="HARNESS_PASSWORD", pattern=r"^[A-Z_][A-Z0-9_]*$")
    scope: str = "openid profile"
    audience: str | None = None  # expected `aud` of access tokens (jwks_validation); default: not checked
    redirect_uri: str = "http://127.0.0.1/callback"
    aws_endpoint: str | None = None  # one listener for sso-oidc and the portal (as AWS_ENDPOINT_URL)
    aws_start_url: str = "https://d-0000000000.awsapps.com/start"

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


FlowName = Literal[
    "client_credentials",
    "authorization_code_pkce",
    "refresh_token",
    "device_authorization",
    "aws_device_login",
    "aws_credentials_refresh",
    "jwks_validation",
    "token_introspection",
    "revocation",
]
AWS_FLOWS: tuple[str, ...] = ("aws_device_login", "aws_credentials_refresh")


class FlowWeight(Model):
    """One entry of the flow mix. Two entries of the same flow (say, relying parties with and without
    clock leeway) need their own `name`, which records and reports then use as the flow's name."""

    flow: FlowName
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


# --- faults (applied through harness.faults) -----------------------------------------------------


class _HttpMatch(Model):
    endpoint: EndpointName | None = None
    path: str | None = Field(default=None, min_length=1)
    match: Literal["exact", "prefix", "regex"] = "exact"
    method: str | None = Field(default=None, pattern=r"^[A-Z]+$")

    @model_validator(mode="after")
    def _endpoint_or_path(self) -> _HttpMatch:
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


class LatencyFault(_HttpMatch):
    """Delay responses. With an endpoint or path, per matching HTTP request; otherwise every TCP chunk."""

    type: Literal["latency"]
    latency_ms: Annotated[float, Field(ge=0, le=600_000)]
    jitter_ms: Annotated[float, Field(ge=0)] = 0.0


class HttpErrorFault(_HttpMatch):
    """Answer matching requests with an error status instead of forwarding them, with a probability."""

    type: Literal["http_error"]
    status: Annotated[int, Field(ge=400, le=599)] = 503
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0
    retry_after_s: Seconds | None = None
    # oauth: RFC 6749 error JSON; aws: also `x-amzn-ErrorType` (what botocore maps to an exception)
    preset: Literal["oauth", "aws"] | None = None  # None: oauth
    aws_error: AwsErrorCode | None = None

    @model_validator(mode="after")
    def _needs_target(self) -> HttpErrorFault:
        if self.endpoint is None and self.path is None:
            raise at_field("endpoint", "http_error needs an endpoint or a path to match")
        if self.aws_error is not None and self.preset != "aws":
            raise at_field("aws_error", "aws_error needs preset: aws")
        return self


AwsErrorCode = Literal["SlowDownException", "TooManyRequestsException", "InternalServerException"]


class HttpDropFault(_HttpMatch):
    """Read a matching request, then end the connection without answering (FIN or RST)."""

    type: Literal["http_drop"]
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0
    mode: Literal["close", "reset"] = "close"


class HttpThrottleFault(_HttpMatch):
    """A token bucket over matching requests (all connections): over the rate, 429 (or AWS SlowDown)."""

    type: Literal["http_throttle"]
    rate_per_s: Annotated[float, Field(gt=0, le=1_000_000)]
    burst: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    status: Annotated[int, Field(ge=400, le=599)] = 429
    retry_after_s: Seconds | None = 1.0
    preset: Literal["oauth", "aws"] | None = None  # None: oauth
    aws_error: AwsErrorCode | None = None

    @model_validator(mode="after")
    def _aws_error_needs_preset(self) -> HttpThrottleFault:
        if self.aws_error is not None and self.preset != "aws":
            raise at_field("aws_error", "aws_error needs preset: aws")
        return self


class HttpCorruptFault(_HttpMatch):
    """Break the response to a matching request: truncate it (then close) or garble its body."""

    type: Literal["http_corrupt"]
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0
    mode: Literal["truncate", "garble"] = "garble"


class _TcpFault(Model):
    """A Toxiproxy TCP toxic: on one direction of every connection, or a share of connections."""

    direction: Literal["downstream", "upstream"] = "downstream"  # downstream: target -> client
    toxicity: Annotated[float, Field(ge=0, le=1)] = 1.0  # share of connections affected


class BandwidthFault(_TcpFault):
    type: Literal["bandwidth"]
    rate_kbps: Annotated[int, Field(ge=1)]  # kilobytes per second, as Toxiproxy's `rate`


class TimeoutFault(_TcpFault):
    """Data stops; the connection closes after timeout_ms without data (0: held until the phase ends)."""

    type: Literal["timeout"]
    timeout_ms: Annotated[int, Field(ge=0)] = 0


class ResetPeerFault(_TcpFault):
    type: Literal["reset_peer"]
    timeout_ms: Annotated[int, Field(ge=0)] = 0  # from the first data to the RST


class SlowCloseFault(_TcpFault):
    type: Literal["slow_close"]
    delay_ms: Annotated[int, Field(ge=0)]


class SlicerFault(_TcpFault):
    type: Literal["slicer"]
    average_size_bytes: Annotated[int, Field(ge=1)]
    size_variation_bytes: Annotated[int, Field(ge=0)] = 0
    delay_us: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _variation_below_average(self) -> SlicerFault:
        if self.size_variation_bytes >= self.average_size_bytes:
            raise at_field("size_variation_bytes", "must be smaller than average_size_bytes")
        return self


class LimitDataFault(_TcpFault):
    type: Literal["limit_data"]
    limit_bytes: Annotated[int, Field(ge=0)]


class _ProcessFault(Model):
    """A fault on the embedded target's processes (harness.chaos.process)."""

    target: Literal["one", "all"] = "all"  # one: a single uvicorn worker (the process itself with workers: 1)


class ProcessKillFault(_ProcessFault):
    """Signal the target's processes; at the phase end a dead target is started again (same store, port)."""

    type: Literal["process_kill"]
    signal: Literal["TERM", "KILL"] = "KILL"


class ProcessPauseFault(_ProcessFault):
    """SIGSTOP, then SIGCONT after duration_s (or at the phase end, whichever comes first)."""

    type: Literal["process_pause"]
    duration_s: PositiveSeconds | None = None


class ProcessRestartFault(Model):
    """Stop the whole target, wait down_s, start it again on the same store and port."""

    type: Literal["process_restart"]
    signal: Literal["TERM", "KILL"] = "TERM"
    down_s: Seconds = 0.0


class _NetFault(Model):
    """A kernel-level fault on the veth link of the target's network namespace (needs target.netns)."""

    direction: Literal["both", "to_target", "from_target"] = "both"


class PacketLossFault(_NetFault):
    type: Literal["packet_loss"]
    percent: Annotated[float, Field(gt=0, le=100)]


class PartitionFault(_NetFault):
    """Drop every packet on the link (one direction or both)."""

    type: Literal["partition"]


class TcpRejectFault(Model):
    """Answer TCP packets towards the target with a RST (nftables `reject with tcp reset`)."""

    type: Literal["tcp_reject"]
    percent: Annotated[float, Field(gt=0, le=100)] = 100.0


class BandwidthLimitFault(Model):
    """A tbf qdisc on the target's side of the link: responses flow at rate_kbit_s kilobits per second."""

    type: Literal["bandwidth_limit"]
    rate_kbit_s: Annotated[int, Field(ge=8, le=10_000_000)]
    burst_bytes: Annotated[int, Field(ge=1600, le=100_000_000)] = 32_768
    queue_latency_ms: Annotated[float, Field(gt=0, le=60_000)] = 50.0


class PacketDelayFault(Model):
    """netem delay on the target's side of the link (only where the kernel has sch_netem)."""

    type: Literal["packet_delay"]
    delay_ms: Annotated[float, Field(gt=0, le=60_000)]
    jitter_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0


class PacketCorruptFault(Model):
    """netem corrupt (only where the kernel has sch_netem)."""

    type: Literal["packet_corrupt"]
    percent: Annotated[float, Field(gt=0, le=100)]


class PacketReorderFault(Model):
    """netem reorder: percent of packets sent at once, the rest delayed by delay_ms (needs sch_netem)."""

    type: Literal["packet_reorder"]
    percent: Annotated[float, Field(gt=0, le=100)]
    delay_ms: Annotated[float, Field(gt=0, le=60_000)] = 10.0


class TargetErrorFault(Model):
    """The embedded target itself answers an endpoint with an error (its chaos API), behind any proxy."""

    type: Literal["target_error"]
    endpoint: EndpointName | Literal["*"]
    status: Annotated[int, Field(ge=400, le=599)] = 503
    probability: Annotated[float, Field(ge=0, le=1)] = 1.0
    retry_after_s: Annotated[int, Field(ge=0)] | None = None
    aws_error: AwsErrorCode | None = None  # sent as x-amzn-ErrorType, so boto3 raises that class


class TargetStoreLatencyFault(Model):
    """Every store-backed request of the embedded target waits latency_ms (a slow database)."""

    type: Literal["target_store_latency"]
    latency_ms: Annotated[float, Field(gt=0, le=60_000)]


class TargetClockSkewFault(Model):
    """JWTs issued by the embedded target carry iat/exp shifted by skew_s (its clock is wrong)."""

    type: Literal["target_clock_skew"]
    skew_s: Annotated[int, Field(ge=-7 * 24 * 3600, le=7 * 24 * 3600)]


class TargetKeyRotationFault(Model):
    """The embedded target rotates its signing key at the phase start (not undone at the phase end: a
    rotation is permanent). publish_lead_s 0: the new key signs at once, before verifiers refetch."""

    type: Literal["target_key_rotation"]
    publish_lead_s: Annotated[int, Field(ge=0, le=86_400)] = 0
    alg: Literal["RS256", "ES256"] | None = None  # None: the target's signing_alg


class TargetDeviceTimingFault(Model):
    """Device codes issued by the embedded target get this polling interval and lifetime (slow_down and
    expiry pressure); back to the target's options at the phase end."""

    type: Literal["target_device_timing"]
    interval_s: Annotated[int, Field(ge=0, le=86_400)] | None = None
    expires_in_s: Annotated[int, Field(ge=0, le=86_400)] | None = None


TARGET_FAULT_TYPES: tuple[str, ...] = (
    "target_error",
    "target_store_latency",
    "target_clock_skew",
    "target_key_rotation",
    "target_device_timing",
)
PROCESS_FAULT_TYPES: tuple[str, ...] = ("process_kill", "process_pause", "process_restart")
NETWORK_FAULT_TYPES: tuple[str, ...] = (
    "packet_loss",
    "partition",
    "tcp_reject",
    "bandwidth_limit",
    "packet_delay",
    "packet_corrupt",
    "packet_reorder",
)


Fault = Annotated[
    LatencyFault
    | HttpErrorFault
    | HttpDropFault
    | HttpThrottleFault
    | HttpCorruptFault
    | BandwidthFault
    | TimeoutFault
    | ResetPeerFault
    | SlowCloseFault
    | SlicerFault
    | LimitDataFault
    | ProcessKillFault
    | ProcessPauseFault
    | ProcessRestartFault
    | PacketLossFault
    | PartitionFault
    | TcpRejectFault
    | BandwidthLimitFault
    | PacketDelayFault
    | PacketCorruptFault
    | PacketReorderFault
    | TargetErrorFault
    | TargetStoreLatencyFault
    | TargetClockSkewFault
    | TargetKeyRotationFault
    | TargetDeviceTimingFault,
    Field(discriminator="type"),
]


class Phase(Model):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    duration_s: Annotated[float, Field(gt=0, le=86_400)]
    faults: tuple[Fault, ...] = ()
    # per-phase load, overriding `load:` for this phase only (a stage of the LoadTestShape)
    users: Annotated[int, Field(ge=0, le=10_000)] | None = None
    spawn_rate: Annotated[float, Field(gt=0)] | None = None
    rate_per_s: Annotated[float, Field(gt=0, le=100_000)] | None = None


# --- SLOs ----------------------------------------------------------------------------------------

Metric = Literal[
    "availability",
    "error_rate",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "attempts_per_operation",
    "throughput_ops",
    "time_to_recover_s",
    "unauthorized_accepted",
]


class Slo(Model):
    name: str = Field(min_length=1, max_length=128)
    metric: Metric
    scope: Literal["attempt", "operation"] = "operation"
    phases: tuple[str, ...] | None = None
    flows: tuple[str, ...] | None = None  # names in the flow mix (an entry's `name`, else its flow); None: all
    steps: tuple[str, ...] | None = None  # step names as records carry them (`token`, `verify`...); None: all
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Slo:
        if (self.at_least is None) == (self.at_most is None):
            raise at_field("at_most", "give exactly one of at_least or at_most")
        return self


# --- stop conditions ----------------------------------------------------------------------------

StopMetric = Literal["availability", "error_rate", "latency_p95_ms", "latency_p99_ms", "unauthorized_accepted"]


class StopCondition(Model):
    """Abort the run (faults off, load stopped, exit 3) when a rolling window crosses a bound."""

    name: str | None = Field(default=None, max_length=128)
    metric: StopMetric
    scope: Literal["attempt", "operation"] = "operation"
    window_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    min_samples: Annotated[int, Field(ge=1)] = 20
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> StopCondition:
        if (self.below is None) == (self.above is None):
            raise at_field("above", "give exactly one of below or above")
        return self

    @property
    def label(self) -> str:
        bound = f"below {self.below:g}" if self.below is not None else f"above {self.above:g}"
        return self.name or f"{self.metric} ({self.scope}, {self.window_s:g} s) {bound}"


# --- the scenario --------------------------------------------------------------------------------


class Scenario(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    description: str = ""
    question: str = Field(default="", max_length=300)  # what the experiment asks; `harness scenarios` lists it
    hypothesis: str = ""  # what the experiment expects to hold; the SLOs are its measurable form
    target: Annotated[EmbeddedTarget | ExternalTarget, Field(discriminator="kind")] = EmbeddedTarget()
    proxy: Annotated[EmbeddedProxy | ToxiproxyProxy | NoProxy, Field(discriminator="kind")] = EmbeddedProxy()
    seed: int = 0
    load: Load = Load()
    flows: tuple[FlowWeight, ...] = Field(default=(FlowWeight(flow="client_credentials"),), min_length=1)
    retry: Retry = Retry()
    phases: tuple[Phase, ...] = Field(min_length=1)
    slos: tuple[Slo, ...] = ()
    stop_conditions: tuple[StopCondition, ...] = ()

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
                if phase.faults:
                    raise at_field(f"phases.{i}.faults", "faults need a proxy, and proxy.kind is 'none'")
        return self

    @model_validator(mode="after")
    def _host_faults_need_their_target(self) -> Scenario:
        """Process faults act on the embedded target's processes, network faults on its namespace."""
        netns = isinstance(self.target, EmbeddedTarget) and self.target.netns
        for i, phase in enumerate(self.phases):
            for j, fault in enumerate(phase.faults):
                where = f"phases.{i}.faults.{j}.type"
                if fault.type in PROCESS_FAULT_TYPES and not isinstance(self.target, EmbeddedTarget):
                    raise at_field(where, f"{fault.type} needs target.kind: embedded (the harness owns its processes)")
                if fault.type in TARGET_FAULT_TYPES and not isinstance(self.target, EmbeddedTarget):
                    raise at_field(where, f"{fault.type} needs target.kind: embedded (the target's chaos API)")
                if fault.type in NETWORK_FAULT_TYPES and not netns:
                    raise at_field(where, f"{fault.type} needs target.netns: true (the link it acts on)")
        return self

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with every phase `factor` times as long (short rehearsals, CI)."""
        phases = tuple(p.model_copy(update={"duration_s": p.duration_s * factor}) for p in self.phases)
        return self.model_copy(update={"phases": phases})
