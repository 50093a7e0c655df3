"""Children of a run die with it (harness.lifeline): a process the orchestrator started goes when the
orchestrator is SIGKILLed, within a second, and not before: not when the thread that asked for it ends
(the kernel's parent-death signal follows the forking *thread*, and process-fault restarts fork from one
that ends at once). Real processes, waited for by polling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness.chaos.procs import process_start_ticks
from harness.run.services import ManagedProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def alive(pid: int) -> bool:
    return process_start_ticks(pid) is not None  # a zombie is gone


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.01)
    return not alive(pid)


def test_a_child_started_from_a_thread_that_ends_lives_on(tmp_path: Path) -> None:
    started: list[ManagedProcess] = []
    thread = threading.Thread(target=lambda: started.append(ManagedProcess("sleeper", SLEEPER,
                                                                           tmp_path / "s.log").start()))
    thread.start()
    thread.join()
    (child,) = started
    try:
        assert child.pid is not None
        assert not gone_within(child.pid, 0.5), "the child died with the thread that asked for it"
    finally:
        child.stop(timeout_s=5)


def test_a_child_dies_within_a_second_when_its_orchestrator_is_killed(tmp_path: Path) -> None:
    orchestrator = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, threading, time
        from pathlib import Path
        from harness.run.services import ManagedProcess
        out = []
        # from a thread that has ended by the time of the kill, as a process-fault restart is
        t = threading.Thread(target=lambda: out.append(ManagedProcess("sleeper", {SLEEPER!r},
                                                                      Path({str(tmp_path / 's.log')!r})).start()))
        t.start(); t.join()
        print(out[0].pid, flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert orchestrator.stdout is not None
        child = int(orchestrator.stdout.readline())
        assert alive(child)
        os.kill(orchestrator.pid, signal.SIGKILL)  # a process this test started
        killed_at = time.monotonic()
        assert gone_within(child, 1.0), "the child outlived its orchestrator by more than a second"
        assert time.monotonic() - killed_at < 1.0
    finally:
        orchestrator.kill()
        orchestrator.wait()


def test_run_logs_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        (tmp_path / "old.log").write_text("")
        os.chmod(tmp_path / "old.log", 0o644)
        for name in ("new", "old"):
            process = ManagedProcess(name, [sys.executable, "-c", "print('hello')"], tmp_path / f"{name}.log").start()
            process.wait(10)
            process.stop()
            assert (tmp_path / f"{name}.log").stat().st_mode & 0o777 == 0o600, name
    finally:
        os.umask(old)
