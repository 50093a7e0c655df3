"""A `command` fault whose apply and revert write files: the revert runs when the run is interrupted with
SIGINT mid-phase, and `harness cleanup` runs it after the orchestrator was killed with SIGKILL. An apply
that exits non-zero is reverted at once and its exit code is in the journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "e2e" / "command.yaml"


def own_registry(tmp: Path) -> dict[str, str]:
    """The environment of a run whose registry of runs (harness.run.leftovers) is its own, so `harness
    cleanup` here sees this run only, whatever else runs on the machine."""
    runtime_dir = tmp / "xdg-runtime"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)}


def start(tmp: Path) -> tuple[subprocess.Popen[str], Path]:
    files = tmp / "files"
    files.mkdir()
    scenario = tmp / "command.yaml"
    scenario.write_text(SCENARIO.read_text().replace("${DIR}", str(files)).replace("${PYTHON}", sys.executable))
    proc = subprocess.Popen(harness_argv("run", str(scenario), "--out", str(tmp / "out")), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=own_registry(tmp))
    deadline = time.monotonic() + 60
    # polls: the first fault is on once its apply has run, and the second's failed apply (exit 3) is in the
    # timeline (a signal between the two would leave the second unasked, and one after its apply ran but
    # before its answer reached the timeline, unrecorded: both seen on a fast or a loaded machine)
    while not ((files / "applied").exists() and _second_apply_recorded(tmp)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    return proc, files


def _second_apply_recorded(tmp: Path) -> bool:
    return any('"fault_error"' in timeline.read_text() for timeline in (tmp / "out").glob("*/timeline.jsonl"))


def run_dir(tmp: Path) -> Path:
    (found,) = [p for p in (tmp / "out").iterdir() if p.is_dir() and not p.name.startswith(".")]
    return found


def test_sigint_mid_phase_still_runs_the_revert(tmp_path: Path) -> None:
    proc, files = start(tmp_path)
    assert not (files / "reverted").exists()
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, output[-3000:]
    assert (files / "reverted").exists() and (files / "failed-reverted").exists()
    journal = json.loads((run_dir(tmp_path) / "journal.json").read_text())
    good, bad = sorted(journal["faults"], key=lambda f: f["id"])
    assert good["applied_at"] is not None and good["removed_at"] is not None and not good["error"]
    assert bad["applied_at"] is None and "exit code 3" in bad["error"], bad
    logs = run_dir(tmp_path) / "logs"
    assert "replicas 0" in (logs / f"command-{good['toxic']}-apply.log").read_text()
    assert "replicas 2" in (logs / f"command-{good['toxic']}-revert.log").read_text()
    assert "refused" in (logs / f"command-{bad['toxic']}-apply.log").read_text()


def test_cleanup_runs_the_revert_after_sigkill(tmp_path: Path) -> None:
    proc, files = start(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not (files / "reverted").exists()  # nobody reverted it: the orchestrator is gone
    cleanup = subprocess.run(harness_argv("cleanup"), capture_output=True, text=True, timeout=90,
                             env=own_registry(tmp_path))
    assert cleanup.returncode == 0, cleanup.stderr
    assert (files / "reverted").exists()
    assert "reverted command fault" in cleanup.stdout, cleanup.stdout
    again = subprocess.run(harness_argv("cleanup"), capture_output=True, text=True, timeout=60,
                           env=own_registry(tmp_path))
    assert "nothing left behind" in again.stdout  # once: the registration is gone
