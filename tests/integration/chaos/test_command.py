"""The runner of `command` faults with real processes: output in logs/, a revert registered before the
apply runs and unregistered once it has run, a failed or hung apply reverted at once, and every command
still applied reverted at the end."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from harness.chaos.command import Commands
from harness.faults.command import CommandFault

pytestmark = pytest.mark.integration


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def fault(apply: list[str], revert: list[str], timeout_s: float = 20) -> CommandFault:
    return CommandFault(type="command", apply=tuple(apply), revert=tuple(revert), timeout_s=timeout_s)


class Pending:
    def __init__(self) -> None:
        self.history: list[list[str]] = []

    def __call__(self, pending: list[dict[str, Any]]) -> None:
        self.history.append([p["name"] for p in pending])


def test_apply_then_revert_with_output_in_logs(tmp_path: Path) -> None:
    pending = Pending()
    commands = Commands(tmp_path / "logs", pending)
    done = commands.apply("p1-f0", fault(py("print('replicas 0')"), py("print('replicas 2')")))
    assert done["exit_code"] == 0 and commands.active() == ["p1-f0"]
    assert pending.history == [["p1-f0"]]  # registered before the apply ran
    commands.remove("p1-f0")
    assert pending.history[-1] == [] and commands.active() == []
    assert "replicas 0" in (tmp_path / "logs" / "command-p1-f0-apply.log").read_text()
    assert "replicas 2" in (tmp_path / "logs" / "command-p1-f0-revert.log").read_text()


def test_a_failed_apply_is_reverted_at_once_and_reported_with_its_exit_code(tmp_path: Path) -> None:
    marker = tmp_path / "reverted"
    commands = Commands(tmp_path / "logs")
    with pytest.raises(RuntimeError, match=r"apply failed: .*exit code 3.*reverted at once: .*exit code 0"):
        commands.apply("f", fault(py("import sys; sys.exit(3)"), py(f"open({str(marker)!r}, 'w')")))
    assert marker.exists() and commands.active() == []


def test_a_hung_apply_is_killed_after_its_timeout(tmp_path: Path) -> None:
    commands = Commands(tmp_path / "logs")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"timeout of 0\.5 s; killed"):
        commands.apply("h", fault(py("import time; time.sleep(60)"), py("pass"), timeout_s=0.5))
    assert time.monotonic() - started < 10


def test_a_program_that_does_not_exist_is_an_error_not_a_crash(tmp_path: Path) -> None:
    commands = Commands(tmp_path / "logs")
    with pytest.raises(RuntimeError, match="could not start"):
        commands.apply("n", fault(["/nonexistent/kubectl", "scale"], ["/nonexistent/kubectl", "scale"]))


def test_a_failed_revert_is_an_error_and_close_reverts_what_is_left(tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    commands = Commands(tmp_path / "logs")
    commands.apply("bad", fault(py("pass"), py("import sys; sys.exit(2)")))
    with pytest.raises(RuntimeError, match=r"revert failed: .*exit code 2"):
        commands.remove("bad")
    commands.apply("left", fault(py("pass"), py(f"open({str(marker)!r}, 'w')")))
    (step,) = commands.close()
    assert step[0] == "revert command left" and step[1] and marker.exists()
