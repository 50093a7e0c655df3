"""target_* faults become chaos API requests (on, and off again), sent by FaultApplier's target channel."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.contract import ChaosRequest
from harness.faults import FAULT_ADAPTER as ADAPTER
from harness.faults import FaultApplier
from harness.faults.base import TargetFault
from harness.scenario.model import Scenario

Sent = tuple[str, str, dict[str, Any] | None]  # a chaos request's method, path and body


class Recorder:
    def __init__(self) -> None:
        self.sent: list[ChaosRequest] = []

    def send(self, request: ChaosRequest) -> dict[str, Any]:
        self.sent.append(request)
        return {}


class NoProxy:
    def add_toxic(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a target fault must not reach the proxy")

    def remove_toxic(self, *args: Any) -> Any:
        raise AssertionError("a target fault must not reach the proxy")

    def update_proxy(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a target fault must not reach the proxy")


@pytest.mark.parametrize(
    ("fault", "on", "off"),
    [
        ({"type": "target_error", "endpoint": "token", "status": 400, "probability": 0.5,
          "aws_error": "SlowDownException"},
         ("PUT", "/chaos/errors", {"endpoint": "token", "status": 400, "probability": 0.5,
                                   "aws_error_type": "SlowDownException"}),
         ("DELETE", "/chaos/errors?endpoint=token", None)),
        ({"type": "target_store_latency", "latency_ms": 250},
         ("PUT", "/chaos/store_latency", {"latency_ms": 250}), ("PUT", "/chaos/store_latency", {"latency_ms": 0})),
        ({"type": "target_clock_skew", "skew_s": -300},
         ("PUT", "/chaos/clock_skew", {"skew_s": -300}), ("PUT", "/chaos/clock_skew", {"skew_s": 0})),
        ({"type": "target_device_timing", "interval_s": 3},
         ("PUT", "/chaos/device", {"interval_s": 3, "expires_in_s": None}),
         ("PUT", "/chaos/device", {"interval_s": None, "expires_in_s": None})),
        ({"type": "target_key_rotation", "publish_lead_s": 20},
         ("POST", "/chaos/keys/rotate", {"publish_lead_s": 20}), None),
        ({"type": "target_token_wrong_aud", "probability": 0.5},
         ("PUT", "/chaos/forgery", {"kind": "wrong_aud", "probability": 0.5, "tokens": ["access", "id"]}),
         ("DELETE", "/chaos/forgery?kind=wrong_aud", None)),
        ({"type": "target_token_wrong_iss", "tokens": ["id"]},
         ("PUT", "/chaos/forgery", {"kind": "wrong_iss", "probability": 1.0, "tokens": ["id"]}),
         ("DELETE", "/chaos/forgery?kind=wrong_iss", None)),
        ({"type": "target_token_expired", "tokens": ["access", "access"]},
         ("PUT", "/chaos/forgery", {"kind": "expired", "probability": 1.0, "tokens": ["access"]}),
         ("DELETE", "/chaos/forgery?kind=expired", None)),
        ({"type": "target_token_unknown_key"},
         ("PUT", "/chaos/forgery", {"kind": "unknown_key", "probability": 1.0, "tokens": ["access", "id"]}),
         ("DELETE", "/chaos/forgery?kind=unknown_key", None)),
        ({"type": "target_token_alg_none", "probability": 0.25},
         ("PUT", "/chaos/forgery", {"kind": "alg_none", "probability": 0.25, "tokens": ["access", "id"]}),
         ("DELETE", "/chaos/forgery?kind=alg_none", None)),
        ({"type": "target_id_token_wrong_nonce"},
         ("PUT", "/chaos/forgery", {"kind": "wrong_nonce", "probability": 1.0, "tokens": ["id"]}),
         ("DELETE", "/chaos/forgery?kind=wrong_nonce", None)),
        ({"type": "target_jwks_key_swap", "probability": 0.5},
         ("PUT", "/chaos/forgery", {"kind": "jwks_key_swap", "probability": 0.5, "tokens": ["access", "id"]}),
         ("DELETE", "/chaos/forgery?kind=jwks_key_swap", None)),
    ],
)  # fmt: skip
def test_applier_switches_the_fault_on_and_off_through_the_chaos_api(
    fault: dict[str, Any], on: Sent, off: Sent | None
) -> None:
    channel = Recorder()
    applier = FaultApplier(NoProxy(), "p", host=None, target=channel)
    parsed = ADAPTER.validate_python(fault)
    assert parsed.channel == "target"
    applier.apply(parsed, "f1")
    applier.remove("f1")
    expected = [on] if off is None else [on, off]
    assert [(r["method"], r["path"], r["body"]) for r in channel.sent] == expected


def test_without_a_chaos_api_the_fault_is_refused() -> None:
    applier = FaultApplier(NoProxy(), "p", host=None, target=None)
    with pytest.raises(RuntimeError, match="target_clock_skew"):
        applier.apply(ADAPTER.validate_python({"type": "target_clock_skew", "skew_s": 1}), "f1")


def test_retry_after_goes_to_the_target_in_whole_seconds() -> None:
    fault = ADAPTER.validate_python({"type": "target_error", "endpoint": "token", "retry_after_s": 1.5})
    assert isinstance(fault, TargetFault)
    on, _ = fault.chaos_requests()
    assert on["body"] is not None and on["body"]["retry_after_s"] == 2


def test_target_faults_need_the_embedded_target() -> None:
    with pytest.raises(ValidationError, match=r"needs target\.kind: embedded"):
        Scenario.model_validate({
            "name": "x", "target": {"kind": "external", "issuer": "http://127.0.0.1:9"},
            "phases": [{"name": "a", "duration_s": 1, "faults": [{"type": "target_clock_skew", "skew_s": 5}]}],
        })  # fmt: skip


@pytest.mark.parametrize("fault", [
    {"type": "target_id_token_wrong_nonce", "tokens": ["access"]},
    {"type": "target_token_wrong_aud", "tokens": []},
    {"type": "target_token_wrong_aud", "tokens": ["refresh"]},
    {"type": "target_token_expired", "probability": 1.5},
])  # fmt: skip
def test_forgeries_refuse_what_they_cannot_forge(fault: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(fault)
