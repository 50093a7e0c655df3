"""The contract between the harness's processes (orchestrator, target, proxy, Locust master and workers):
every `HARNESS_*` environment variable, the runtime description (`runtime.json`), the typed rows of the
two record kinds, the events of the timeline log, the specs sent to the fault proxy and to the target's
chaos API, and the rule the embedded target seeds its users by.

Every process imports this module, and it imports nothing of the harness beyond the model base: what
crosses a process boundary is written here once, so a misspelled key is a type error, not a null column.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final, Literal, NotRequired, TypedDict

from pydantic import Field

from harness.modelbase import Model


class Env:
    """Environment variable names. Secrets travel only this way, never by argv (world-readable in ps)."""

    RUNTIME: Final = "HARNESS_RUNTIME"  # path of runtime.json, for Locust's argument parser
    NODE: Final = "HARNESS_NODE"  # a load process's node name in records (local, w1, w2...)
    CLIENT_ID: Final = "HARNESS_CLIENT_ID"  # the target's seeded confidential client
    CLIENT_SECRET: Final = "HARNESS_CLIENT_SECRET"  # ... and its secret (a secret)
    PUBLIC_CLIENT_ID: Final = "HARNESS_PUBLIC_CLIENT_ID"  # the target's seeded public client
    REDIRECT_URIS: Final = "HARNESS_REDIRECT_URIS"  # space separated, for both seeded clients
    RESOURCE_SERVER_ID: Final = "HARNESS_RESOURCE_SERVER_ID"  # the target's declared resource server (RFC 7662)
    RESOURCE_SERVER_SECRET: Final = "HARNESS_RESOURCE_SERVER_SECRET"  # ... and its secret (a secret)
    USERNAME: Final = "HARNESS_USERNAME"  # who the user flows sign in as (without USER_COUNT)
    PASSWORD: Final = "HARNESS_PASSWORD"  # ... and their password (a secret)
    USER_COUNT: Final = "HARNESS_USER_COUNT"  # seeded users to spread simulated users over
    CHAOS_API: Final = "HARNESS_CHAOS_API"  # the orchestrator's control channel (process/network faults)
    CHAOS_TOKEN: Final = "HARNESS_CHAOS_TOKEN"  # ... its bearer token (a secret)
    TARGET_CHAOS_URL: Final = "HARNESS_TARGET_CHAOS_URL"  # the target's own address, bypassing the proxy
    TARGET_ADMIN_TOKEN: Final = "HARNESS_TARGET_ADMIN_TOKEN"  # the target's chaos API token (a secret)
    TARGET_CONFIG: Final = "HARNESS_TARGET_CONFIG"  # the target's options, for its uvicorn workers
    WORKER_DIR: Final = "HARNESS_WORKER_DIR"  # `harness worker`: where its run copy and records go
    MASTER_TIMEOUT: Final = "HARNESS_MASTER_TIMEOUT_S"  # a worker quits after this long without its master
    # an external provider's users file (`username,password` lines; secrets): each simulated user takes one.
    # The default of `target.users_file_env`; read where it lies, never copied into the run directory
    USERS_FILE: Final = "HARNESS_USERS_FILE"


# --- what a run tells its load processes (runtime.json) -------------------------------------------


class ScenarioChoice(Model):
    """A scenario the web UI's start form offers (`harness ui`): runnable on this run's services."""

    name: str
    file: str  # its resolved copy in the run directory (choices/<name>.yaml)
    plan: str  # what the form shows: phases, users and faults


class OriginRoute(Model):
    """One entry of the origin map: an upstream origin the flows use, and where clients connect instead.
    Clients keep the origin's URLs (path, query, Host, SNI, the issuer and every token's `iss`) and only
    connect elsewhere (harness.clients.transport.Route); faults on it go to `proxy_name`."""

    origin: str  # scheme://host:port, as the provider's URLs name it (the port always written)
    upstream: str  # host:port the proxy connects to (target.resolve applied)
    listen: str  # host:port clients connect to: the proxy's listener (or the upstream itself without one)
    proxy_name: str | None = None  # None: no proxy in front of this origin
    tls: bool = False  # https: with a proxy, TLS ends at its listener (clients trust Runtime.ca_file)
    endpoints: tuple[str, ...] = ()  # the logical endpoints found on this origin (for faults and the plan)


class Runtime(Model):
    """Where the run's services are. No secret is in it: the client secret travels by Env.CLIENT_SECRET."""

    run_dir: str
    scenario_file: str  # the resolved scenario.yaml inside the run directory
    base_url: str  # where clients send requests (the proxy's listener, or the target itself)
    target_url: str  # the target's own address, for health checks that must bypass the proxy
    proxy_api: str | None = None  # Toxiproxy-compatible control API
    proxy_name: str | None = None
    client_id: str
    seed: int = 0
    netns: str | None = None  # the network namespace the target runs in (harness.chaos), if any
    choices: tuple[ScenarioChoice, ...] = ()  # web UI only: the run's own scenario first
    # web UI only: run_dir is the session's directory, and each test (Start in the form) gets a run
    # directory of its own beside it (SESSION_LOG announces each; records and timeline go there)
    ui_session: bool = False
    origins: tuple[OriginRoute, ...] = ()  # the origin map (external providers, and a target over TLS)
    ca_file: str | None = None  # the run's CA certificate (outside the run directory): TLS listeners' issuer
    # an external provider's logical endpoints -> URLs (discovery and aws_endpoint): paths for faults
    endpoints: dict[str, str] = Field(default_factory=dict)

    def proxy_names(self) -> tuple[str, ...]:
        """Every proxy of the run, the main one (the issuer's) first."""
        names = [self.proxy_name] if self.proxy_name else []
        names += [o.proxy_name for o in self.origins if o.proxy_name and o.proxy_name not in names]
        return tuple(names)

    def choice(self, value: str) -> ScenarioChoice | None:
        """The choice a start-form value names (the value is its plan; its name is what precedes ':')."""
        name = value.split(":", 1)[0].strip()
        return next((c for c in self.choices if c.name == name), None)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Runtime:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


# --- records (harness.records writes them as Parquet; the schemas there match these keys) -----------

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
    "tls_error",  # a certificate that did not verify, on the client's hop or (reported by our proxy) the next
]


class AttemptRow(TypedDict):
    """One HTTP exchange (or one local token decision, method VERIFY)."""

    ts: float  # epoch seconds at send
    op_id: str
    flow: str
    step: str
    endpoint: str  # logical name (token, jwks...) or the path when it has none
    method: str
    attempt: int  # 1-based within the operation
    status: int  # 0 when no response arrived
    outcome: Outcome
    latency_ms: float
    bytes: int
    phase: str
    user: str
    node: str
    error: str  # exception class or short reason; never a response body


class OperationRow(TypedDict):
    """One logical step, or a whole journey (`step == "journey"`), as the user experienced it."""

    ts: float  # epoch seconds when the operation started
    op_id: str
    flow: str
    step: str
    attempts: int
    outcome: Outcome  # outcome of the last attempt
    status: int  # status of the last attempt
    latency_ms: float  # end to end, backoff included
    backoff_ms: float
    phase: str
    user: str
    node: str
    intended_ts: float | None  # open-loop arrival: when it should have started; None when closed


# --- the timeline log (timeline.jsonl: the Locust side and the orchestrator append, the journal folds) ---


class TimelineStart(TypedDict):
    kind: Literal["timeline_start"]
    ts: float
    asked_at: float


class PhaseEvent(TypedDict):
    kind: Literal["phase_start", "phase_end", "timeline_stop"]
    phase: str
    ts: float
    asked_at: NotRequired[float]  # not on timeline_stop


class TimelineEnd(TypedDict):
    kind: Literal["timeline_end"]
    ts: float


class FaultEvent(TypedDict):
    """A fault applied or removed by the timeline, or an error doing so (`action` says which)."""

    kind: Literal["fault_applied", "fault_removed", "fault_error"]
    fault_id: str  # <phase>.<n>
    toxic: str  # its name on the proxy (or channel)
    phase: str
    asked_at: float
    ts: float  # when the change took effect (or failed)
    type: NotRequired[str]  # applied: the fault type and its spec as in the scenario
    spec: NotRequired[dict[str, Any]]
    reason: NotRequired[Literal["phase_end", "stop"]]  # removed
    action: NotRequired[Literal["apply", "remove"]]  # fault_error
    error: NotRequired[str]


# A process or network change the orchestrator made for the timeline (host_fault_applied/removed) or what
# it measured after one (process_resumed, worker_replaced, target_restarted...): `kind`, `ts` and the
# change's own details. Shown in the journal as they are; nothing folds them.
HostEvent = dict[str, Any]


class WorkerLost(TypedDict):
    """A worker that stopped answering heartbeats (`how: missing`) or quit on its own (`left`)."""

    kind: Literal["worker_lost"]
    ts: float
    node: str
    phase: str
    workers_left: int
    how: NotRequired[Literal["missing", "left"]]
    made: NotRequired[int]  # records it had made by its last report to the master


class WorkerJoined(TypedDict):
    """A worker the master accepted: who it is, for the journal and the report."""

    kind: Literal["worker_joined"]
    ts: float
    node: str
    client_id: str
    host: str
    pid: int
    cores: int
    version: str
    remote: bool  # records on its own disk, brought home at stop


class WorkerRefused(TypedDict):
    kind: Literal["worker_refused"]
    ts: float
    node: str
    host: str
    reason: str


class WorkersMissing(TypedDict):
    """The master gave up waiting for --expect-workers before the first phase."""

    kind: Literal["workers_missing"]
    ts: float
    expected: int
    joined: list[str]
    waited_s: float


class RecordsHome(TypedDict):
    """A remote worker's shards as the master holds them at stop (`missing`: names it never got)."""

    kind: Literal["records_home"]
    ts: float
    node: str
    files: int
    bytes: int
    complete: bool
    missing: list[str]


class WorkersFlushed(TypedDict):
    kind: Literal["workers_flushed"]
    ts: float
    acks: int
    expected: int
    written: int
    missing: NotRequired[list[str]]
    by_node: NotRequired[dict[str, int]]  # records each worker says it wrote


class ScenarioSelected(TypedDict):
    kind: Literal["scenario_selected"]
    ts: float
    scenario: str


# what the load side writes (harness.load); the journal folds these
TimelineEvent = (
    TimelineStart | PhaseEvent | TimelineEnd | FaultEvent | WorkerLost | WorkersFlushed | ScenarioSelected
    | WorkerJoined | WorkerRefused | WorkersMissing | RecordsHome
)  # fmt: skip


# --- master <-> worker messages (Locust custom messages, msgpack: no tuple, no exception, no secret) ---

WIRE_VERSION = 1  # bump when a message below changes: a master refuses a worker that speaks another
# message names, master -> worker / worker -> master
HELLO, SETUP, REFUSED, PHASE = "harness_hello", "harness_setup", "harness_refused", "harness_phase"
FLUSH, FLUSHED, SHARD, SHARD_ACK = "harness_flush", "harness_flushed", "harness_shard", "harness_shard_ack"
READY, RELEASE = "harness_ready", "harness_release"
TEST = "harness_test"  # master -> workers: a web UI test begins, its run id (where its records go)
# a load process's node name: it names its record shards (`<kind>-<node>-<seq>.parquet`), so file-safe
NODE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def harness_version() -> str:
    """This installation's version: a master refuses workers of another one."""
    from importlib import metadata

    try:
        return metadata.version("sso-resilience-harness")
    except metadata.PackageNotFoundError:
        return "unknown"


class WorkerHello(TypedDict):
    """Worker -> master, once connected: who it is. `remote`: it was started by `harness worker` and
    needs the run's setup; its records stay on its disk until the master asks for them."""

    node: str
    host: str
    pid: int
    cores: int
    version: str
    wire: int
    remote: bool


class WorkerSetup(TypedDict):
    """Master -> remote worker: everything it needs but secrets (those it reads from its environment)."""

    run_id: str
    scenario_yaml: str  # the run's resolved scenario
    base_url: str
    target_url: str
    client_id: str  # not a secret; the client secret comes from the worker's own Env.CLIENT_SECRET
    seed: int
    user_count: int  # the embedded target's seeded users (Env.USER_COUNT); 0 for an external provider
    phase: str  # the phase the run is in now (a late worker starts there)
    started_at: float | None  # when the test started, if it has
    origins: list[dict[str, Any]]  # Runtime.origins (OriginRoute dumps): where each origin's proxy listens
    endpoints: dict[str, str]  # Runtime.endpoints (an external provider's logical endpoints)
    ca_pem: str | None  # the run's CA certificate (public, never its key): TLS listeners' issuer


class ShardChunk(TypedDict):
    """Worker -> master: `data` is bytes [offset, offset + len) of shard `name`, `size` bytes in all."""

    name: str
    offset: int
    size: int
    data: bytes


class ShardAck(TypedDict):
    name: str
    end: int  # bytes of the shard the master now holds
    done: bool
    error: str | None


class WorkerFlushedMsg(TypedDict):
    """Worker -> master at stop, after its flush (and, for a remote worker, after shipping every shard)."""

    node: str
    written: int
    shards: dict[str, int]  # remote only: every shard it wrote, name -> size (the master checks it has them)

# --- the web UI session's log (session.jsonl in the session directory: one line per test) --------------

SESSION_LOG = "session.jsonl"


class UiTestStarted(TypedDict):
    """A test began (Start in the web UI's form): its run directory exists, its records go there."""

    kind: Literal["test_started"]
    ts: float
    run_id: str  # the run directory's name, beside the session directory
    scenario: str


class UiTestEnded(TypedDict):
    """A test stopped, and every load process has written its records (the report may be built)."""

    kind: Literal["test_ended"]
    ts: float
    run_id: str


SessionEvent = UiTestStarted | UiTestEnded


# --- fault changes as the channels receive them ----------------------------------------------------


class ToxicSpec(TypedDict):
    """A toxic as the Toxiproxy API takes it (POST /proxies/{proxy}/toxics)."""

    name: str
    type: str
    stream: Literal["upstream", "downstream"]
    toxicity: float
    attributes: dict[str, Any]


class ChaosRequest(TypedDict):
    """One call to the embedded target's chaos API (harness/idp/chaosapi.py), under /chaos."""

    method: Literal["PUT", "POST", "DELETE"]
    path: str
    body: dict[str, Any] | None


# --- tokens the embedded target forges on purpose (security chaos: harness/idp/forgery.py) ------------

Forgery = Literal["wrong_aud", "wrong_iss", "expired", "unknown_key", "alg_none", "wrong_nonce", "jwks_key_swap"]
ForgedToken = Literal["access", "id"]  # which tokens of a response a forgery may touch
# On a token response whose tokens the target forged, which ones and how: `access_token=wrong_aud,
# id_token=wrong_aud` (the body's field names). The harness's own clients read it as the ground truth of
# what they must refuse; the relying party under test never sees it, only the token.
FORGED_HEADER: Final = "X-Harness-Forged"


# --- the embedded target's seeded users (its directory seeds them; the load side signs in as them) ---

SEEDED_USERS = 100  # the target's --seed-users default in a run


def seeded_username(index: int, count: int) -> str:
    """User `index` (1-based) of `count`, zero padded to at least 4 digits: user0001..."""
    return f"user{index:0{max(4, len(str(count)))}d}"


def seeded_password(username: str) -> str:
    """The seeded password rule: documented, so the load side can sign in; never logged."""
    return f"pw-{username}"
