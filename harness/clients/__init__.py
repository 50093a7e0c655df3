"""Retry-aware SSO clients: requests for the wire, tenacity for the retries, one record per attempt and
one per logical operation. Nothing here imports gevent or locust; the load side injects the sink."""

from harness.clients.caller import AttemptResult, Caller, OperationResult, RecordSink
from harness.clients.classify import classify_exception, classify_status
from harness.clients.policy import RetryPolicy

__all__ = [
    "AttemptResult",
    "Caller",
    "OperationResult",
    "RecordSink",
    "RetryPolicy",
    "classify_exception",
    "classify_status",
]
