"""Joining late and losing the master: a `harness worker` that joins a run already in its second phase
starts there (its records, sent home while the run goes on, are labelled with the phase the run is in),
and once its master is killed it exits by itself when --master-timeout has passed, saying where the
records that did not reach the master stay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.contract import Env
from harness.records import read_records
from harness.run.journal import read_jsonl
from harness.run.remote import master_port
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
SCENARIO = """
name: {name}
seed: 3
proxy: {{kind: none}}
load: {{users: 4, spawn_rate: 4, think_time_s: [0.01, 0.03]}}
flows: [{{flow: client_credentials}}]
phases:
  - {{name: first, duration_s: {first}}}
  - {{name: second, duration_s: {second}}}
"""


Started = tuple[subprocess.Popen[str], str, dict[str, str]]


def start_run(tmp_path: Path, name: str, first: float, second: float) -> Started:
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(SCENARIO.format(name=name, first=first, second=second))
    master = f"127.0.0.1:{master_port()}"
    env = {**os.environ, Env.CLIENT_SECRET: "lifecycle-test-secret"}
    run = subprocess.Popen(
        harness_argv("run", str(scenario), "--out", str(tmp_path / "out"), "--workers", "1", "--master-bind",
                     master, "--expect-workers", "1"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return run, master, env


def wait_for(tmp_path: Path, run: subprocess.Popen[str], ready: Any, timeout_s: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and run.poll() is None:
        for timeline in (tmp_path / "out").glob("*/timeline.jsonl"):
            events = read_jsonl(timeline)
            if ready(events):
                return events
        time.sleep(0.2)
    raise AssertionError("the run never got there")


def stop(*processes: subprocess.Popen[Any]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_late_worker_starts_in_the_current_phase_and_exits_when_its_master_is_gone(tmp_path: Path) -> None:
    run, master, env = start_run(tmp_path, "late", 2, 60)
    worker = None
    try:
        wait_for(tmp_path, run, lambda evs: any(e["kind"] == "phase_start" and e["phase"] == "second" for e in evs))
        worker = subprocess.Popen(harness_argv("worker", "--master", master, "--node", "late-one", "--out",
                                               str(tmp_path / "w"), "--master-timeout", "3"), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        (records,) = {p.parent for p in (tmp_path / "out").glob("*/journal.json")}
        records = records / "records"
        deadline = time.monotonic() + 60
        while not list(records.glob("attempts-late-one-*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.2)  # until its first shards came home, as they do while the run goes on
        (journal,) = (tmp_path / "out").glob("*/journal.json")
        locust_pid = int(json.loads(journal.read_text())["services"]["locust"]["pid"])
        os.kill(locust_pid, signal.SIGKILL)  # the master this test started (through harness run), by its PID
        killed = time.monotonic()
        worker_output, _ = worker.communicate(timeout=60)
        waited = time.monotonic() - killed
        run.communicate(timeout=60)
    finally:
        stop(run, *([worker] if worker else []))
    attempts = read_records(records, "attempts").to_pandas()
    late = attempts[attempts["node"] == "late-one"]
    assert len(late) > 0, "the late worker got no users, or sent nothing home"
    assert set(late["phase"]) == {"second"}, worker_output  # it started in the phase the run was in
    assert waited < 30, waited  # it left by itself once --master-timeout had passed
    assert worker.returncode == 1, worker_output  # its last records did not reach the master
    assert "did not reach the master; they stay in" in worker_output, worker_output
