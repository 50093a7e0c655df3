"""Process faults against a fake target: signals are recorded, nothing is really signalled."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from harness.chaos import procs
from harness.chaos.process import ProcessFaults
from harness.faults.process_kill import ProcessKillFault
from harness.faults.process_pause import ProcessPauseFault
from harness.faults.process_restart import ProcessRestartFault


class FakeTarget:
    def __init__(self) -> None:
        self.up, self.restarts, self.pid = True, 0, 4242

    def main_pid(self) -> int | None:
        return self.pid

    def alive(self) -> bool:
        return self.up

    def restart(self) -> None:
        self.restarts += 1
        self.up = True

    def issue_token(self) -> str | None:
        return "secret-token-value" if self.up else None

    def token_active(self, token: str) -> bool | None:
        return token == "secret-token-value"


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int]]:
    sent: list[tuple[Any, int]] = []
    monkeypatch.setattr(procs, "worker_pids", lambda main, proc=None: [5001, 5002])

    def send(pids: list[int], sig: int) -> list[int]:
        sent.append((tuple(pids), sig))
        return list(pids)

    monkeypatch.setattr(procs, "send", send)
    return sent


def make(target: FakeTarget) -> tuple[ProcessFaults, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    return ProcessFaults(target, events.append, clock=lambda: 10.0, sleep=lambda s: None), events


def test_pause_stops_and_remove_continues(signals: list[tuple[Any, int]]) -> None:
    faults, _ = make(FakeTarget())
    done = faults.apply("p", ProcessPauseFault(type="process_pause"))
    assert done["pids"] == [4242, 5001, 5002]
    faults.remove("p")
    assert signals == [((4242, 5001, 5002), signal.SIGSTOP), ((4242, 5001, 5002), signal.SIGCONT)]


def test_close_continues_whatever_is_still_paused(signals: list[tuple[Any, int]]) -> None:
    faults, _ = make(FakeTarget())
    faults.apply("p", ProcessPauseFault(type="process_pause", target="one"))
    faults.close()
    assert signals[-1] == ((5001,), signal.SIGCONT)


def test_kill_one_worker_leaves_the_target_up(signals: list[tuple[Any, int]]) -> None:
    faults, _ = make(FakeTarget())
    done = faults.apply("k", ProcessKillFault(type="process_kill", target="one"))
    assert done["pid"] == 5001 and not done["group"]
    assert signals[0] == ((5001,), signal.SIGKILL)
    assert not faults.target_down_intended()


def test_restart_is_intended_measured_and_keeps_tokens(
    signals: list[tuple[Any, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = FakeTarget()
    groups: list[tuple[int, int]] = []

    def killpg(pid: int, sig: int) -> None:
        groups.append((pid, sig))
        target.up = False

    monkeypatch.setattr(os, "killpg", killpg)  # the os module harness.chaos.process calls
    faults, events = make(target)
    faults.apply("r", ProcessRestartFault(type="process_restart", down_s=1))
    faults.close()
    assert groups == [(4242, signal.SIGTERM)]
    assert target.restarts == 1 and not faults.target_down_intended()
    (restarted,) = [e for e in events if e["kind"] == "target_restarted"]
    assert restarted["token_survived"] is True and restarted["time_to_first_token_s"] == 0.0
    assert "secret-token-value" not in str(events)


def test_a_killed_target_counts_as_intended_until_the_fault_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    target = FakeTarget()
    monkeypatch.setattr(procs, "worker_pids", lambda main, proc=None: [])
    monkeypatch.setattr(procs, "send", lambda pids, sig: list(pids))
    monkeypatch.setattr(os, "killpg", lambda pid, sig: setattr(target, "up", False))
    faults, _ = make(target)
    faults.apply("k", ProcessKillFault(type="process_kill", target="one"))  # one process only: the whole target
    assert faults.target_down_intended()
    faults.remove("k")
    faults.close()
    assert target.restarts == 1 and not faults.target_down_intended()
