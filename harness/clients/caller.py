"""One logical call = tenacity running attempts; every attempt, step and journey becomes a record.

Attempts never raise: a failed exchange is an AttemptResult with its outcome, so a simulated user never
dies of a protocol surprise, and tenacity decides on outcomes alone.

Record convention (the operation table holds two kinds of row, told apart by `step`):
- a *step* operation: one logical request as the user sees it, after retries; `step` names it (`token`,
  `poll`, `userinfo`...); its `op_id` is `<journey op_id>.<n>` inside a journey;
- a *journey* operation: the whole flow, `step == "journey"` (JOURNEY_STEP), `op_id` without a dot,
  `attempts` = every HTTP attempt of the journey, `backoff_ms` = all time spent waiting (retry backoff and
  protocol waits such as the RFC 8628 poll interval), outcome = that of the first step that failed.
Local decisions of a relying party (a token accepted or refused without any request) are attempt rows
with method VERIFY and status 0, so that `unauthorized_accepted` counts what a relying party let through.
"""

from __future__ import annotations

import email.utils
import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import requests

from harness.clients.classify import classify_exception, classify_response, error_code
from harness.clients.policy import RetryPolicy
from harness.contract import AttemptRow, OperationRow, Outcome

OP_ID_HEADER = "X-Harness-Op-Id"
JOURNEY_STEP = "journey"
VERIFY_METHOD = "VERIFY"


class RecordSink(Protocol):
    def attempt(self, row: AttemptRow) -> None: ...

    def operation(self, row: OperationRow) -> None: ...


Validator = Callable[[requests.Response], Outcome | None]


@dataclass(slots=True)
class AttemptResult:
    outcome: Outcome
    status: int
    latency_ms: float
    retry_after_s: float | None = None
    error: str = ""
    response: requests.Response | None = field(default=None, repr=False)
    reason: str = ""  # protocol error code (OAuth `error`, AWS error shape), never a description
    final: bool = False  # a protocol answer (e.g. authorization_pending): retrying it is not our call


@dataclass(slots=True)
class OperationResult:
    op_id: str
    outcome: Outcome
    status: int
    attempts: int
    latency_ms: float
    backoff_ms: float
    response: requests.Response | None = field(default=None, repr=False)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def json(self) -> Any:
        """The last response's JSON body, or None when there is none or it is not JSON."""
        if self.response is None:
            return None
        try:
            return self.response.json()
        except ValueError:
            return None


@dataclass
class Journey:
    """What the steps of one journey add up to; written as the journey's operation record at the end."""

    op_id: str
    flow: str
    steps: int = 0
    attempts: int = 0
    backoff_s: float = 0.0
    outcome: Outcome = "ok"
    status: int = 0

    def fail(self, outcome: Outcome, status: int = 0) -> None:
        if self.outcome == "ok" and outcome != "ok":
            self.outcome, self.status = outcome, status

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3); anything else is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class Caller:
    """Makes retried HTTP calls for one simulated user and reports them to a RecordSink.

    `intended_ts`, when set (open-loop pacing, harness.load.pacing), is the due time of the next operation
    made without one of its own: that operation takes it and clears it."""

    intended_ts: float | None = None

    def __init__(
        self,
        session: requests.Session,
        policy: RetryPolicy,
        sink: RecordSink,
        *,
        user: str,
        node: str,
        phase: Callable[[], str],
        clock: Callable[[], float] = time.time,
        perf: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Any] | None = None,
    ):
        self.session, self.policy, self.sink = session, policy, sink
        self.user, self.node, self.phase = user, node, phase
        self.clock, self.perf, self.sleep = clock, perf, sleep
        self._journey: Journey | None = None
        self._timeout = (policy.connect_timeout_s, policy.read_timeout_s)
        # op ids: a random prefix per user and a counter, unique across processes without a uuid4 per
        # call; hex only, so that `<journey>.<n>` stays the one dot in a step's op id
        self._op_prefix = os.urandom(6).hex()
        self._op_numbers = itertools.count(1)

    # --- journeys ---------------------------------------------------------------------------------

    @contextmanager
    def journey(self, flow: str) -> Iterator[Journey]:
        """Group the steps made inside into one journey record. An exception escaping a flow (a bug, or a
        response shape nobody foresaw) ends the journey as a protocol error instead of killing the user."""
        journey = Journey(self._new_op_id(), flow)
        outer, self._journey = self._journey, journey
        ts, t0, phase = self.clock(), self.perf(), self.phase()
        try:
            yield journey
        except Exception:  # the user must survive; the type is enough to debug, a message might leak
            journey.fail("protocol_error")
        finally:
            self._journey = outer
            self.sink.operation({
                "ts": ts, "op_id": journey.op_id, "flow": flow, "step": JOURNEY_STEP, "phase": phase,
                "user": self.user, "node": self.node, "attempts": journey.attempts, "outcome": journey.outcome,
                "status": journey.status, "latency_ms": (self.perf() - t0) * 1000.0,
                "backoff_ms": journey.backoff_s * 1000.0, "intended_ts": None,
            })  # fmt: skip

    def wait(self, seconds: float) -> None:
        """A protocol wait (a poll interval): slept like a backoff and counted as the journey's backoff."""
        if self._journey is not None:
            self._journey.backoff_s += seconds
        (self.sleep or time.sleep)(seconds)

    def _new_op_id(self) -> str:
        return f"{self._op_prefix}{next(self._op_numbers):x}"

    def _next_op_id(self) -> str:
        if self._journey is None:
            return self._new_op_id()
        self._journey.steps += 1
        return f"{self._journey.op_id}.{self._journey.steps}"

    # --- one step ---------------------------------------------------------------------------------

    def call(
        self,
        flow: str,
        step: str,
        method: str,
        url: str,
        *,
        endpoint: str,
        validate: Validator | None = None,
        errors: Mapping[str, Outcome] | None = None,
        aws: bool = False,
        session: requests.Session | None = None,
        decides_journey: bool = True,
        headers: Mapping[str, str] | None = None,
        intended_ts: float | None = None,
        **request_kwargs: Any,
    ) -> OperationResult:
        """`errors` maps protocol error codes (OAuth `error` or, with `aws`, AWS error shapes normalised to
        the OAuth code) to the outcome they mean here; such answers are final, never retried. A step whose
        failure the flow handles itself (a pending poll) passes `decides_journey=False`."""
        journey = self._journey
        if journey is None:  # _next_op_id, inline: once per request
            op_id = f"{self._op_prefix}{next(self._op_numbers):x}"
        else:
            journey.steps += 1
            op_id = f"{journey.op_id}.{journey.steps}"
        sent_headers = {OP_ID_HEADER: op_id, **headers} if headers else {OP_ID_HEADER: op_id}
        http, policy, sink, clock, perf = session or self.session, self.policy, self.sink, self.clock, self.perf
        if intended_ts is None and self.intended_ts is not None:  # a paced journey's first operation
            intended_ts, self.intended_ts = self.intended_ts, None
        if policy.budget is not None:
            policy.deposit()
        # an operation belongs to the phase it started in, however long its retries run into the next; so
        # does its first attempt (the phase is read once, so a boundary never splits them), sent at once
        ts, t0, phase = clock(), perf(), self.phase()
        user, node = self.user, self.node
        # The first attempt, straight (no closure, no Retrying, and no breaker call when there is none): the
        # common case, a success, costs only this. Later attempts run under tenacity (`_retry`).
        if policy.breakers is None:
            first: AttemptResult | None = self._exchange(
                http, method, url, sent_headers, self._timeout, validate, errors, aws, request_kwargs
            )
        else:
            first = policy.guard(endpoint, partial(self._exchange, http, method, url, sent_headers, self._timeout,
                                                   validate, errors, aws, request_kwargs))  # fmt: skip
        attempt_no = 0
        if first is None:  # the circuit breaker refused: nothing was sent, so no attempt row
            first = AttemptResult("circuit_open", 0, 0.0, error="circuit open", final=True)
        else:
            attempt_no = 1
            first.latency_ms = (perf() - t0) * 1000.0
            response = first.response
            sink.attempt({
                "ts": ts, "op_id": op_id, "flow": flow, "step": step, "phase": phase, "user": user,
                "node": node, "endpoint": endpoint, "method": method, "attempt": 1, "status": first.status,
                "outcome": first.outcome, "latency_ms": first.latency_ms,
                "bytes": len(response.content) if response is not None else 0, "error": first.error,
            })  # fmt: skip
        last, backoff_s = first, 0.0
        if policy.wants_retry(first):
            last, attempt_no, backoff_s = self._retry(
                first, attempt_no, perf() - t0, op_id, flow, step, endpoint, method,
                partial(self._exchange, http, method, url, sent_headers, self._timeout, validate, errors, aws,
                        request_kwargs),
            )  # fmt: skip
        latency_ms = (perf() - t0) * 1000.0
        backoff_ms = backoff_s * 1000.0
        if intended_ts is not None:  # open loop: the user waited from when the call was due
            latency_ms += max(0.0, ts - intended_ts) * 1000.0
        sink.operation({
            "ts": ts, "op_id": op_id, "flow": flow, "step": step, "phase": phase, "user": user,
            "node": node, "attempts": attempt_no, "outcome": last.outcome, "status": last.status,
            "latency_ms": latency_ms, "backoff_ms": backoff_ms, "intended_ts": intended_ts,
        })  # fmt: skip
        if journey is not None:
            journey.attempts += attempt_no
            journey.backoff_s += backoff_s
            if decides_journey:
                journey.fail(last.outcome, last.status)
        return OperationResult(
            op_id, last.outcome, last.status, attempt_no, latency_ms, backoff_ms, last.response, last.reason
        )

    def _retry(
        self,
        first: AttemptResult,
        attempt_no: int,
        took_s: float,
        op_id: str,
        flow: str,
        step: str,
        endpoint: str,
        method: str,
        exchange: Callable[[], AttemptResult],
    ) -> tuple[AttemptResult, int, float]:
        """Attempts 2 and later, as tenacity decides: each one through the breaker, sent in the phase of
        its own time and recorded as it ends. (last result, attempts made, seconds slept)"""
        policy, sink, clock, perf = self.policy, self.sink, self.clock, self.perf
        made = attempt_no

        def attempt() -> AttemptResult:
            nonlocal made
            sent_ts, sent_t0, sent_in = clock(), perf(), self.phase()
            result = policy.guard(endpoint, exchange)
            if result is None:
                return AttemptResult("circuit_open", 0, 0.0, error="circuit open", final=True)
            made += 1
            result.latency_ms = (perf() - sent_t0) * 1000.0
            response = result.response
            sink.attempt({
                "ts": sent_ts, "op_id": op_id, "flow": flow, "step": step, "phase": sent_in, "user": self.user,
                "node": self.node, "endpoint": endpoint, "method": method, "attempt": made,
                "status": result.status, "outcome": result.outcome, "latency_ms": result.latency_ms,
                "bytes": len(response.content) if response is not None else 0, "error": result.error,
            })  # fmt: skip
            return result

        last, backoff_s = policy.resume(first, took_s, attempt, self.sleep)
        return last, made, backoff_s

    def verdict(self, flow: str, step: str, endpoint: str, outcome: Outcome, latency_ms: float, reason: str) -> None:
        """A relying party's local decision (no request): one VERIFY attempt row and its step operation.
        `reason` is a fixed word (e.g. `bad_signature`), never a token or a library message."""
        op_id = self._next_op_id()
        ts, phase = self.clock(), self.phase()
        self.sink.attempt({
            "ts": ts, "op_id": op_id, "flow": flow, "step": step, "phase": phase, "user": self.user,
            "node": self.node, "endpoint": endpoint, "method": VERIFY_METHOD, "attempt": 1, "status": 0,
            "outcome": outcome, "latency_ms": latency_ms, "bytes": 0, "error": reason,
        })  # fmt: skip
        self.sink.operation({
            "ts": ts, "op_id": op_id, "flow": flow, "step": step, "phase": phase, "user": self.user,
            "node": self.node, "attempts": 1, "outcome": outcome, "status": 0, "latency_ms": latency_ms,
            "backoff_ms": 0.0, "intended_ts": None,
        })  # fmt: skip
        if self._journey is not None:
            self._journey.attempts += 1
            self._journey.fail(outcome)

    def _exchange(
        self,
        http: requests.Session,
        method: str,
        url: str,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
        validate: Validator | None,
        errors: Mapping[str, Outcome] | None,
        aws: bool,
        request_kwargs: Mapping[str, Any],
    ) -> AttemptResult:
        try:
            response = http.request(method, url, headers=headers, timeout=timeout, allow_redirects=False,
                                    **request_kwargs)
            response.content  # noqa: B018 - read the body inside the timed window, as a user would
        except Exception as exc:  # every failure is an outcome; a user must never die of one
            return AttemptResult(classify_exception(exc), 0, 0.0, error=type(exc).__name__)
        status = response.status_code
        outcome: Outcome = "ok" if 200 <= status < 400 else classify_response(response)  # its first test, inline
        reason = error_code(response, aws=aws) if status >= 400 else ""
        error = "" if outcome == "ok" else f"HTTP {status}" + (f" {reason}" if reason else "")
        final = False
        if errors and reason in errors:
            outcome, final = errors[reason], True
        elif outcome == "ok" and validate is not None:
            try:
                verdict = validate(response)
            except Exception as exc:  # a validator that trips on a malformed body is a protocol error
                verdict, error = "protocol_error", type(exc).__name__
            if verdict is not None and verdict != "ok":
                outcome = verdict
                error = error or verdict
        # only an answer that may be retried needs its Retry-After (RFC 9110 10.2.3: 3xx, 429, 503)
        retry_after = None if outcome == "ok" else parse_retry_after(response.headers.get("Retry-After"), self.clock())
        return AttemptResult(outcome, status, 0.0, retry_after, error, response, reason, final)
