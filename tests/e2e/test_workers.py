"""A worker killed in the middle of a `harness run --workers 2`: the master reports it in the journal
(`worker_lost`), the other worker takes over its users, and the run ends normally with a report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.records import read_records
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SCENARIO = """
name: lose-a-worker
seed: 5
load: {users: 4, spawn_rate: 4, think_time_s: [0.02, 0.05]}
phases:
  - {name: before, duration_s: 5}
  - {name: after, duration_s: 7}
"""


def wait_for_worker_pid(out: Path, process: subprocess.Popen[str], timeout_s: float = 40) -> tuple[Path, int]:
    """The run's journal names its workers' PIDs; wait until worker 2 has written a shard."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        for journal in out.glob("*/journal.json"):
            try:
                services = json.loads(journal.read_text())["services"]
            except (OSError, ValueError, KeyError):
                continue
            worker = services.get("locust-worker-2")
            if worker and list(journal.parent.glob("records/attempts-w2-*.parquet")):
                return journal.parent, int(worker["pid"])
        time.sleep(0.2)
    raise AssertionError("worker 2 never started writing records")


def test_a_killed_worker_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    scenario = tmp_path / "lose.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "reports"
    process = subprocess.Popen(
        harness_argv("run", str(scenario), "--out", str(out), "--workers", "2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_dir, pid = wait_for_worker_pid(out, process)
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)  # a process this test started (through harness run), by its PID
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    journal = json.loads((run_dir / "journal.json").read_text())
    lost = [e for e in journal["events"] if e["kind"] == "worker_lost"]
    assert len(lost) == 1 and "the run goes on" in lost[0]["detail"]
    assert journal["status"] == "completed"
    attempts = read_records(run_dir / "records", "attempts").to_pandas()
    later = attempts[attempts["ts"] > killed_at + 5]
    assert set(later["node"]) == {"w1"} and len(later) > 20  # w1 carried on with the users
    assert (run_dir / "report.html").exists()
