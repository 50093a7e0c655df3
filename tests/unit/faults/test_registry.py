"""The registry: every fault module is registered under its own name, and each type names its channel."""

from __future__ import annotations

import pkgutil
from typing import Any

import pytest
from pydantic import ValidationError

import harness.faults as faults_package
from harness import plugins
from harness.faults import FAULT_ADAPTER, FAULT_TYPES, toxic_spec, types_on
from harness.faults.base import NetworkFault, ProcessFault, ProxyFault, TargetFault
from harness.faults.command import CommandFault
from harness.faults.http_error import HttpErrorFault
from harness.faults.latency import LatencyFault

NOT_FAULT_MODULES = {"applier", "base", "channels", "registry"}


def test_every_fault_module_is_registered_under_its_own_name() -> None:
    """Each module of harness/faults is a `harness.faults` entry point of ours (pyproject.toml), named as
    the module, and its model's `type` is that name."""
    modules = {m.name for m in pkgutil.iter_modules(faults_package.__path__)} - NOT_FAULT_MODULES
    ours = {e.name: e.value for e in plugins.registry().entries("faults") if e.builtin}
    assert modules == set(ours)
    for name, value in ours.items():
        assert value.startswith(f"harness.faults.{name}:")
        model = FAULT_TYPES[name]
        assert model.__module__ == f"harness.faults.{name}" and model.wire_type() == name


@pytest.mark.parametrize("name", sorted(FAULT_TYPES))
def test_each_type_declares_the_channel_its_base_stands_for(name: str) -> None:
    model = FAULT_TYPES[name]
    base = {"proxy": ProxyFault, "target": TargetFault, "process": ProcessFault, "network": NetworkFault,
            "command": CommandFault}
    assert issubclass(model, base[model.channel])


def test_lists_by_channel_come_from_the_models() -> None:
    assert types_on("process") == {"process_kill", "process_pause", "process_restart"}
    assert types_on("target") == {n for n in FAULT_TYPES if n.startswith("target_")}
    assert {"packet_loss", "partition", "bandwidth_limit"} <= types_on("network")
    assert types_on("proxy", "target", "process", "network", "command") == set(FAULT_TYPES)
    assert types_on("command") == {"command"} and not types_on("plugin")


def test_http_error_on_an_endpoint_matches_its_path_exactly() -> None:
    spec = toxic_spec(HttpErrorFault(type="http_error", endpoint="token", probability=0.3, retry_after_s=1), "t1")
    assert spec["type"] == "http_error" and spec["stream"] == "upstream"
    assert spec["attributes"] == {
        "method": "",
        "path": "/token",
        "match": "exact",
        "status": 503,
        "probability": 0.3,
        "retry_after": 1,
    }


def test_a_fractional_retry_after_rounds_up_to_whole_seconds() -> None:
    spec = toxic_spec(HttpErrorFault(type="http_error", endpoint="token", retry_after_s=0.2), "t1")
    assert spec["attributes"]["retry_after"] == 1


def test_latency_without_a_target_is_the_tcp_toxic() -> None:
    spec = toxic_spec(LatencyFault(type="latency", latency_ms=200, jitter_ms=20), "t2")
    assert spec == {
        "name": "t2",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 200, "jitter": 20},
    }


def test_latency_on_a_path_is_per_request() -> None:
    spec = toxic_spec(LatencyFault(type="latency", latency_ms=50, path="/oauth", match="prefix"), "t3")
    assert spec["type"] == "http_latency"
    assert spec["attributes"]["path"] == "/oauth" and spec["attributes"]["match"] == "prefix"


def test_an_endpoint_resolves_through_the_providers_own_paths() -> None:
    keycloak = {"token": "/realms/x/protocol/openid-connect/token"}
    spec = toxic_spec(HttpErrorFault(type="http_error", endpoint="token"), "t4", keycloak)
    assert spec["attributes"]["path"] == "/realms/x/protocol/openid-connect/token"


def test_unknown_type_lists_the_known_ones() -> None:
    fault: dict[str, Any] = {"type": "meteor"}
    with pytest.raises(ValidationError, match=r"'meteor'.*expected tags: .*'http_error'.*'latency'"):
        FAULT_ADAPTER.validate_python(fault)
