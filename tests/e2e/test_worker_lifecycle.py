"""Joining late and losing the master: a `harness worker` that joins a run already in its second phase
starts there (its first records are labelled with the phase the run is in, and the report covers it), and
a worker whose master is killed exits by itself once --master-timeout has passed, saying where its
records stay."""

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


def test_a_late_worker_starts_in_the_current_phase(tmp_path: Path) -> None:
    run, master, env = start_run(tmp_path, "late", 3, 15)
    worker = None
    try:
        wait_for(tmp_path, run, lambda evs: any(e["kind"] == "phase_start" and e["phase"] == "second" for e in evs))
        worker = subprocess.Popen(harness_argv("worker", "--master", master, "--node", "late-one", "--out",
                                               str(tmp_path / "w")), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)  # fmt: skip
        output, _ = run.communicate(timeout=120)
        worker_output, _ = worker.communicate(timeout=30)
    finally:
        stop(run, *([worker] if worker else []))
    assert run.returncode == 0, output
    assert worker.returncode == 0, worker_output
    (run_dir,) = [p for p in (tmp_path / "out").iterdir() if p.is_dir() and not p.name.startswith(".")]
    attempts = read_records(run_dir / "records", "attempts").to_pandas()
    late = attempts[attempts["node"] == "late-one"]
    assert len(late) > 10, "the late worker got no users"
    assert set(late["phase"]) == {"second"}, worker_output  # it started in the phase the run was in
    assert set(attempts["node"]) == {"w1", "late-one"}
    workers = {w["node"]: w for w in json.loads((run_dir / "journal.json").read_text())["workers"]}
    assert workers["late-one"]["complete"] and workers["late-one"]["remote"]
    assert "late-one" in (run_dir / "report.html").read_text()


def test_a_worker_exits_by_itself_when_its_master_is_gone(tmp_path: Path) -> None:
    run, master, env = start_run(tmp_path, "orphan", 60, 1)
    worker = subprocess.Popen(harness_argv("worker", "--master", master, "--node", "orphan", "--out",
                                           str(tmp_path / "w"), "--master-timeout", "4"), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_for(tmp_path, run, lambda evs: any(e["kind"] == "worker_joined" and e["node"] == "orphan" for e in evs))
        (journal,) = (tmp_path / "out").glob("*/journal.json")
        locust_pid = int(json.loads(journal.read_text())["services"]["locust"]["pid"])
        time.sleep(1.5)  # a second of load, so that the worker holds records
        os.kill(locust_pid, signal.SIGKILL)  # the master this test started (through harness run), by its PID
        killed = time.monotonic()
        worker_output, _ = worker.communicate(timeout=60)
        waited = time.monotonic() - killed
        run.communicate(timeout=60)
    finally:
        stop(run, worker)
    assert waited < 30, waited
    assert worker.returncode == 1, worker_output  # its last records did not reach the master
    assert "did not reach the master; they stay in" in worker_output, worker_output
