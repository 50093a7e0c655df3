"""Each proxy fault type becomes a toxic spec the proxy accepts as it is (wire names and units); the others
never reach the proxy."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from pydantic import ValidationError

from harness.faults import FAULT_ADAPTER as ADAPTER
from harness.faults import FAULT_TYPES, toxic_spec
from harness.faults.base import ProxyFault
from harness.modelbase import FieldRenamed
from harness.proxy.registry import create_toxic, toxic_class

FAULTS: dict[str, dict[str, Any]] = {
    "latency": {"type": "latency", "latency_ms": 20},
    "http_error": {
        "type": "http_error",
        "endpoint": "token",
        "preset": "aws",
        "aws_error": "SlowDownException",
        "status": 400,
    },
    "http_drop": {"type": "http_drop", "path": "/oauth2/", "match": "prefix", "mode": "reset", "probability": 0.2},
    "http_throttle": {"type": "http_throttle", "endpoint": "token", "rate_per_s": 50, "burst": 10},
    "http_corrupt": {"type": "http_corrupt", "endpoint": "jwks", "mode": "truncate"},
    "http_answer": {"type": "http_answer", "endpoint": "introspection", "body": {"active": True}},
    "bandwidth": {"type": "bandwidth", "rate_kbyte_s": 64},
    "timeout": {"type": "timeout", "timeout_ms": 500, "toxicity": 0.5},
    "reset_peer": {"type": "reset_peer", "timeout_ms": 100, "direction": "upstream"},
    "slow_close": {"type": "slow_close", "delay_ms": 2000},
    "slicer": {"type": "slicer", "average_size_bytes": 64, "size_variation_bytes": 16, "delay_us": 500},
    "limit_data": {"type": "limit_data", "limit_bytes": 1024},
}

# Faults the orchestrator makes on the host (harness.chaos) or the target makes itself (chaos API):
# they never become proxy toxics, so they are checked for their channel instead.
NOT_PROXY: dict[str, dict[str, Any]] = {
    "process_kill": {"type": "process_kill", "signal": "KILL", "target": "one"},
    "process_pause": {"type": "process_pause", "duration_s": 2},
    "process_restart": {"type": "process_restart", "down_s": 1},
    "packet_loss": {"type": "packet_loss", "percent": 30},
    "partition": {"type": "partition"},
    "tcp_reject": {"type": "tcp_reject"},
    "bandwidth_limit": {"type": "bandwidth_limit", "rate_kbit_s": 64},
    "packet_delay": {"type": "packet_delay", "delay_ms": 100},
    "packet_corrupt": {"type": "packet_corrupt", "percent": 5},
    "packet_reorder": {"type": "packet_reorder", "percent": 10, "delay_ms": 20},
    "command": {"type": "command", "apply": ["kubectl", "scale", "--replicas=0"], "revert": ["true"]},
}
# Faults on the proxy itself rather than toxics on it (tests/unit/faults/test_down_and_command.py)
PROXY_SWITCHES = {"down"}


def test_every_registered_fault_type_has_an_example_here() -> None:
    target_faults = {name for name in FAULT_TYPES if name.startswith("target_")}  # tested with the chaos API
    assert set(FAULT_TYPES) - target_faults == set(FAULTS) | set(NOT_PROXY) | PROXY_SWITCHES


@pytest.mark.parametrize("name", sorted(NOT_PROXY))
def test_host_faults_go_to_the_orchestrator_not_the_proxy(name: str) -> None:
    fault = ADAPTER.validate_python(NOT_PROXY[name])
    assert fault.channel in ("process", "network", "command") and not isinstance(fault, ProxyFault)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_spec_is_accepted_by_the_proxy(name: str) -> None:
    spec = toxic_spec(proxy_fault(FAULTS[name]), f"{name}_1")
    cls = toxic_class(spec["type"])
    assert spec["stream"] in cls.streams
    create_toxic(spec["type"], spec["attributes"])  # raises on a wrong attribute name or unit


def test_units_are_converted_to_toxiproxy_attributes() -> None:
    spec = toxic_spec(proxy_fault(FAULTS["slicer"]), "s")
    assert spec["attributes"] == {"average_size": 64, "size_variation": 16, "delay": 500}
    spec = toxic_spec(proxy_fault(FAULTS["timeout"]), "t")
    assert spec["toxicity"] == 0.5 and spec["stream"] == "downstream" and spec["attributes"] == {"timeout": 500}
    spec = toxic_spec(proxy_fault(FAULTS["reset_peer"]), "r")
    assert spec["stream"] == "upstream"


def test_aws_preset_reaches_the_toxic() -> None:
    spec = toxic_spec(proxy_fault(FAULTS["http_error"]), "e")
    assert spec["attributes"]["preset"] == "aws" and spec["attributes"]["aws_error"] == "SlowDownException"
    raw = create_toxic("http_error", spec["attributes"]).response()  # type: ignore[attr-defined]
    assert b"x-amzn-ErrorType: SlowDownException\r\n" in raw and raw.startswith(b"HTTP/1.1 400 ")


def test_throttle_defaults() -> None:
    spec = toxic_spec(proxy_fault(FAULTS["http_throttle"]), "th")
    assert spec["attributes"]["rate"] == 50 and spec["attributes"]["status"] == 429
    assert spec["attributes"]["retry_after"] == 1 and "preset" not in spec["attributes"]


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"type": "slicer", "average_size_bytes": 10, "size_variation_bytes": 10}, "size_variation_bytes"),
        ({"type": "http_error", "endpoint": "token", "aws_error": "SlowDownException"}, "aws_error"),
        ({"type": "http_throttle", "rate_per_s": 0}, "rate_per_s"),
        ({"type": "bandwidth", "rate_kbyte_s": 0}, "rate_kbyte_s"),
        ({"type": "bandwidth", "rate_kbps": 8, "rate_kbyte_s": 8}, "rate_kbps"),
        ({"type": "bandwidth", "rate": 5}, "rate"),
        ({"type": "timeout", "timeout_ms": 5, "toxicity": 2}, "toxicity"),
        ({"type": "http_drop", "mode": "explode"}, "mode"),
    ],
)
def test_invalid_faults_name_their_field(fault: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ADAPTER.validate_python(fault)
    assert field in str(info.value)


def proxy_fault(data: dict[str, Any]) -> ProxyFault:
    fault = ADAPTER.validate_python(data)
    assert isinstance(fault, ProxyFault)
    return fault


def test_the_old_bandwidth_unit_name_still_works_for_a_release_with_a_warning() -> None:
    with pytest.warns(FieldRenamed, match=r"rate_kbps is deprecated, write rate_kbyte_s \(kilobytes per second"):
        old = ADAPTER.validate_python({"type": "bandwidth", "rate_kbps": 64})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = ADAPTER.validate_python({"type": "bandwidth", "rate_kbyte_s": 64})
    assert old == new
