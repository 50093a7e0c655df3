"""The master waits for --expect-workers before the first phase, and says who is missing when they do not
come: here one worker runs another harness version (refused by the master) and one has no client secret
in its environment (it declines, naming the variable). Nothing runs: exit 4, with both reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.contract import Env
from harness.run.remote import master_port
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
OTHER_VERSION = Path(__file__).resolve().parents[1] / "fixtures" / "workers" / "other_version.py"
SCENARIO = """
name: gate
proxy: {kind: none}  # nothing here needs a proxy: one process fewer to start
load: {users: 2, spawn_rate: 2, think_time_s: [0.1, 0.2]}
phases: [{name: only, duration_s: 2}]
"""


def test_a_master_refuses_another_version_and_names_who_is_missing(tmp_path: Path) -> None:
    scenario = tmp_path / "gate.yaml"
    scenario.write_text(SCENARIO)
    master = f"127.0.0.1:{master_port()}"  # below the ephemeral range, as the harness picks its own
    env = {**os.environ, Env.CLIENT_SECRET: "gate-test-secret"}
    run = subprocess.Popen(
        harness_argv("run", str(scenario), "--out", str(tmp_path / "out"), "--master-bind", master,
                     "--expect-workers", "2", "--workers-timeout", "6"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    no_secret = {k: v for k, v in env.items() if k != Env.CLIENT_SECRET}
    worker = subprocess.Popen(
        harness_argv("worker", "--master", master, "--node", "no-secret", "--out", str(tmp_path / "w")),
        env=no_secret, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    other = subprocess.Popen(
        [sys.executable, str(OTHER_VERSION), *master.split(":"), "old-one"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = run.communicate(timeout=90)
        worker_out, _ = worker.communicate(timeout=30)
        other_out, _ = other.communicate(timeout=30)
    finally:
        for process in (run, worker, other):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert run.returncode == 4, output
    assert "0 of 2 load workers joined within" in output, output
    assert "missing: 2 remote workers" in output, output
    assert "refused old-one" in output and "it runs harness 0.0.0-other" in output, output
    assert "refused no-secret" in output and f"set {Env.CLIENT_SECRET} in this worker's environment" in output
    assert other.returncode == 0 and "refused: it runs harness 0.0.0-other" in other_out, other_out
    assert worker.returncode == 2, worker_out
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert not list((run_dir / "records").glob("*.parquet"))  # no phase ever started
    print(output)
