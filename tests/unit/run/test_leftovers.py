"""The safety net for crashed runs: registered children are stopped (and only they), shared proxies
cleaned, the journal marked."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.chaos.procs import process_start_ticks, same_process
from harness.run.leftovers import ActiveRuns, Registration, user_registry


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def dead_orchestrator() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_crashed_runs_children_are_stopped_and_its_journal_marked(tmp_path: Path) -> None:
    child = sleeper()
    try:
        run_dir = tmp_path / "r1"
        run_dir.mkdir()
        (run_dir / "journal.json").write_text(json.dumps({"status": "running", "events": []}))
        active = ActiveRuns(tmp_path)
        reg = Registration("r1", str(run_dir), pid=dead_orchestrator(), start_ticks=1)
        reg.children.append({"name": "target", "pid": child.pid, "start_ticks": process_start_ticks(child.pid)})
        active.save(reg)
        said = active.clean()
        assert child.wait(timeout=10) is not None
        assert any("target" in line and "stopped" in line for line in said)
        journal = json.loads((run_dir / "journal.json").read_text())
        assert journal["status"] == "crashed" and journal["events"][-1]["kind"] == "crash_detected"
        assert active.registrations() == []
    finally:
        child.kill()
        child.wait()


def test_a_recycled_pid_is_never_signalled(tmp_path: Path) -> None:
    child = sleeper()
    try:
        active = ActiveRuns(tmp_path)
        reg = Registration("r2", str(tmp_path / "r2"), pid=dead_orchestrator(), start_ticks=1)
        wrong = (process_start_ticks(child.pid) or 0) + 12345  # same PID, another process's start time
        reg.children.append({"name": "target", "pid": child.pid, "start_ticks": wrong})
        active.save(reg)
        said = active.clean()
        assert child.poll() is None, "a process that merely reuses the PID must survive"
        assert any("already gone" in line for line in said)
    finally:
        child.kill()
        child.wait()


def test_a_live_run_is_left_alone(tmp_path: Path) -> None:
    active = ActiveRuns(tmp_path)
    active.save(Registration("mine", str(tmp_path)))  # this very process: alive
    assert active.clean() == []
    assert [r.run_id for r in active.registrations()] == ["mine"]
    assert same_process(Registration("x", "").pid, None)


def test_the_registry_is_one_per_user_not_per_output_directory(tmp_path: Path) -> None:
    runtime = tmp_path / "run-user"
    runtime.mkdir()
    assert user_registry({"XDG_RUNTIME_DIR": str(runtime)}) == runtime / "harness" / "active"
    state = tmp_path / "state"
    assert user_registry({"XDG_STATE_HOME": str(state)}) == state / "harness" / "active"
    assert user_registry({"XDG_RUNTIME_DIR": str(tmp_path / "missing"), "XDG_STATE_HOME": "relative"}) == \
        Path.home() / ".local" / "state" / "harness" / "active"


def test_runs_from_two_output_directories_crash_into_one_registry(tmp_path: Path) -> None:
    """Same scenario, same second, two output directories: two registrations, both cleaned by one start."""
    registry = ActiveRuns(tmp_path / "registry")
    for out in ("reports-a", "reports-b"):
        run_dir = tmp_path / out / "20261205T120000Z-demo"
        run_dir.mkdir(parents=True)
        (run_dir / "journal.json").write_text(json.dumps({"status": "running", "events": []}))
        registry.save(Registration("20261205T120000Z-demo", str(run_dir), pid=dead_orchestrator(), start_ticks=1))
    assert len(registry.registrations()) == 2
    registry.clean()
    assert registry.registrations() == []
    for out in ("reports-a", "reports-b"):
        journal = json.loads((tmp_path / out / "20261205T120000Z-demo" / "journal.json").read_text())
        assert journal["status"] == "crashed"


def test_a_crashed_runs_scratch_directory_goes_and_nothing_else(tmp_path: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="harness-target-"))
    (scratch / "target.sqlite3").write_text("private keys")
    elsewhere = tmp_path / "harness-target-not-in-tmp"
    elsewhere.mkdir()
    registry = ActiveRuns(tmp_path / "registry")
    registry.save(Registration("r1", str(tmp_path / "r1"), pid=dead_orchestrator(), start_ticks=1,
                               scratch=str(scratch)))
    registry.save(Registration("r2", str(tmp_path / "r2"), pid=dead_orchestrator(), start_ticks=1,
                               scratch=str(elsewhere)))
    said = registry.clean()
    assert not scratch.exists() and elsewhere.exists()
    assert any("removed the target's scratch directory" in line for line in said)
    assert any("left" in line and "alone" in line for line in said)


def test_a_crashed_runs_command_reverts_run_once_and_its_scratch_goes(tmp_path: Path) -> None:
    run_dir, marker = tmp_path / "r3", tmp_path / "reverted"
    scratch = Path(tempfile.mkdtemp(prefix="harness-target-"))
    (scratch / "ca").mkdir(parents=True)
    (scratch / "ca" / "ca-key.pem").write_text("key")
    active = ActiveRuns(tmp_path / "registry")
    reg = Registration("r3", str(run_dir), pid=dead_orchestrator(), start_ticks=1, scratch=str(scratch))
    reg.commands.append({"name": "p1-f0", "timeout_s": 10, "log": str(run_dir / "logs" / "command-p1-f0-revert.log"),
                         "revert": [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]})
    active.save(reg)
    said = active.clean()
    assert marker.read_text() == "x" and not scratch.exists()
    assert any("reverted command fault p1-f0" in line for line in said)
    assert "[exit 0]" in (run_dir / "logs" / "command-p1-f0-revert.log").read_text()
    assert active.registrations() == []  # once: nothing is reverted a second time
