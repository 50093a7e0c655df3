"""One logical call = tenacity running attempts; every attempt and the operation become records.

Attempts never raise: a failed exchange is an AttemptResult with its outcome, so a simulated user never
dies of a protocol surprise, and tenacity decides on outcomes alone.
"""

from __future__ import annotations

import email.utils
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

from harness.clients.classify import classify_exception, classify_status
from harness.clients.policy import RetryPolicy
from harness.scenario.model import Outcome

OP_ID_HEADER = "X-Harness-Op-Id"


class RecordSink(Protocol):
    def attempt(self, row: dict[str, Any]) -> None: ...

    def operation(self, row: dict[str, Any]) -> None: ...


Validator = Callable[[requests.Response], Outcome | None]


@dataclass
class AttemptResult:
    outcome: Outcome
    status: int
    latency_ms: float
    retry_after_s: float | None = None
    error: str = ""
    response: requests.Response | None = field(default=None, repr=False)


@dataclass
class OperationResult:
    op_id: str
    outcome: Outcome
    status: int
    attempts: int
    latency_ms: float
    backoff_ms: float
    response: requests.Response | None = field(default=None, repr=False)

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
    """Makes retried HTTP calls for one simulated user and reports them to a RecordSink."""

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

    def call(
        self,
        flow: str,
        step: str,
        method: str,
        url: str,
        *,
        endpoint: str,
        validate: Validator | None = None,
        headers: Mapping[str, str] | None = None,
        intended_ts: float | None = None,
        **request_kwargs: Any,
    ) -> OperationResult:
        op_id = uuid.uuid4().hex
        sent_headers = {OP_ID_HEADER: op_id, **(headers or {})}
        timeout = (self.policy.connect_timeout_s, self.policy.read_timeout_s)
        attempt_no = 0

        def attempt() -> AttemptResult:
            nonlocal attempt_no
            attempt_no += 1
            ts, t0 = self.clock(), self.perf()
            result = self._exchange(method, url, sent_headers, timeout, validate, request_kwargs)
            result.latency_ms = (self.perf() - t0) * 1000.0
            self.sink.attempt(
                {
                    "ts": ts,
                    "op_id": op_id,
                    "flow": flow,
                    "step": step,
                    "endpoint": endpoint,
                    "method": method,
                    "attempt": attempt_no,
                    "status": result.status,
                    "outcome": result.outcome,
                    "latency_ms": result.latency_ms,
                    "bytes": len(result.response.content) if result.response is not None else 0,
                    "phase": self.phase(),
                    "user": self.user,
                    "node": self.node,
                    "error": result.error,
                }
            )
            return result

        retrying = self.policy.retrying(sleep=self.sleep)
        ts, t0 = self.clock(), self.perf()
        last: AttemptResult = retrying(attempt)
        latency_ms = (self.perf() - t0) * 1000.0
        backoff_ms = retrying.statistics.get("idle_for", 0.0) * 1000.0
        if intended_ts is not None:  # open loop: the user waited from when the call was due
            latency_ms += max(0.0, ts - intended_ts) * 1000.0
        self.sink.operation(
            {
                "ts": ts,
                "op_id": op_id,
                "flow": flow,
                "step": step,
                "attempts": attempt_no,
                "outcome": last.outcome,
                "status": last.status,
                "latency_ms": latency_ms,
                "backoff_ms": backoff_ms,
                "phase": self.phase(),
                "user": self.user,
                "node": self.node,
                "intended_ts": intended_ts,
            }
        )
        return OperationResult(op_id, last.outcome, last.status, attempt_no, latency_ms, backoff_ms, last.response)

    def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
        validate: Validator | None,
        request_kwargs: Mapping[str, Any],
    ) -> AttemptResult:
        try:
            response = self.session.request(method, url, headers=headers, timeout=timeout, **request_kwargs)
            response.content  # noqa: B018 - read the body inside the timed window, as a user would
        except Exception as exc:  # every failure is an outcome; a user must never die of one
            return AttemptResult(classify_exception(exc), 0, 0.0, error=type(exc).__name__)
        outcome = classify_status(response.status_code)
        error = "" if outcome == "ok" else f"HTTP {response.status_code}"
        if outcome == "ok" and validate is not None:
            try:
                verdict = validate(response)
            except Exception as exc:  # a validator that trips on a malformed body is a protocol error
                verdict, error = "protocol_error", type(exc).__name__
            if verdict is not None and verdict != "ok":
                outcome = verdict
                error = error or verdict
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock())
        return AttemptResult(outcome, response.status_code, 0.0, retry_after, error, response)
