"""The control channel's routing and checks, called directly (no socket), and the timeline-side applier."""

from __future__ import annotations

import json
from typing import Any

from harness.chaos.control import ControlServer, FaultRefused, HostFaults
from harness.faults import FaultApplier
from harness.faults.packet_loss import PacketLossFault
from harness.faults.process_kill import ProcessKillFault


class FakeProcesses:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def apply(self, name: str, fault: Any) -> dict[str, Any]:
        self.calls.append(("apply", name))
        return {"action": "kill"}

    def remove(self, name: str) -> dict[str, Any]:
        self.calls.append(("remove", name))
        return {"action": "restart"}


def make() -> tuple[ControlServer, FakeProcesses, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    processes = FakeProcesses()
    faults = HostFaults(processes, None, events.append, lambda: 100.0)  # type: ignore[arg-type]
    server = ControlServer(faults)
    server.close()  # never served: handle() is called directly
    return server, processes, events


def test_token_is_required() -> None:
    server, processes, _ = make()
    assert server.handle("POST", "/faults/x", "Bearer wrong", b"{}")[0] == 401
    assert server.handle("POST", "/faults/x", "", b"{}")[0] == 401
    assert processes.calls == []


def test_apply_and_remove_are_logged_with_asked_and_effective_times() -> None:
    server, processes, events = make()
    auth = f"Bearer {server.token}"
    body = json.dumps({"type": "process_kill", "signal": "TERM"}).encode()
    assert server.handle("POST", "/faults/f1", auth, body) == (200, {"action": "kill"})
    assert server.handle("DELETE", "/faults/f1", auth, b"") == (200, {"action": "restart"})
    assert processes.calls == [("apply", "f1"), ("remove", "f1")]
    assert [e["kind"] for e in events] == ["host_fault_applied", "host_fault_removed"]
    assert all(e["asked_at"] == 100.0 and e["ts"] == 100.0 for e in events)
    assert server.token not in json.dumps(events)


def test_bad_bodies_and_proxy_faults_are_refused() -> None:
    server, processes, _ = make()
    auth = f"Bearer {server.token}"
    assert server.handle("POST", "/faults/f", auth, b'{"type": "process_kill", "signal": "HUP"}')[0] == 400
    assert server.handle("POST", "/faults/f", auth, b'{"type": "latency", "latency_ms": 1}')[0] == 400
    assert server.handle("DELETE", "/faults/nope", auth, b"")[0] == 404
    assert server.handle("POST", "/other", auth, b"{}")[0] == 404
    assert processes.calls == []


def test_network_fault_without_a_namespace_is_refused_clearly() -> None:
    server, _, _ = make()
    status, payload = server.handle(
        "POST", "/faults/f", f"Bearer {server.token}", b'{"type": "packet_loss", "percent": 5}'
    )
    assert status == 409 and "target.netns" in payload["error"]
    assert issubclass(FaultRefused, Exception)


class FakeChannel:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def apply(self, fault: Any, name: str) -> None:
        self.calls.append(("apply", name))

    def remove(self, name: str) -> None:
        self.calls.append(("remove", name))


class FakeProxy:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def add_toxic(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a host fault never reaches the proxy")

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        self.removed.append(toxic)

    def update_proxy(self, name: str, **fields: Any) -> None:
        raise AssertionError("a host fault never reaches the proxy")


def test_fault_applier_sends_host_faults_over_the_channel() -> None:
    channel, proxy = FakeChannel(), FakeProxy()
    applier = FaultApplier(proxy, "sso", host=channel)
    applier.apply(ProcessKillFault(type="process_kill"), "t1")
    applier.apply(PacketLossFault(type="packet_loss", percent=3), "t2")
    applier.remove("t1")
    applier.remove("t2")
    applier.remove("proxy-toxic")
    assert channel.calls == [("apply", "t1"), ("apply", "t2"), ("remove", "t1"), ("remove", "t2")]
    assert proxy.removed == ["proxy-toxic"]


def test_without_a_channel_host_faults_fail_with_a_reason() -> None:
    applier = FaultApplier(FakeProxy(), "sso", host=None)
    try:
        applier.apply(ProcessKillFault(type="process_kill"), "t1")
    except RuntimeError as exc:
        assert "harness run" in str(exc)
    else:
        raise AssertionError("expected a refusal")
