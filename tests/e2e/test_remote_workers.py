"""A run across three "machines": network namespaces made by the test (tests/netlab.py), each with its own
address on a bridge, its own loopback and its own working directory. The master (`harness run
--master-bind --expect-workers 2 --listen`), the target and (where a fault needs it) the proxy are in one;
a `harness worker --master` in each of the two others. Nothing is shared but the bridge: the workers get
the scenario from the master, read the client secret from their own environment, and their records come
home over Locust's messages.

- SIGINT on the master, in a phase with a fault on, stops both workers and leaves no fault behind, and
  every record comes home: per worker, the records in the master's run directory are the shards the
  worker wrote (row for row, compacted at home), as many as the worker says it wrote, and each attempt is one request in
  the target's own request log (logs/requests.jsonl), matched by op id, endpoint and status (the fault
  delays answers, so every request still reaches the target). That run is TLS on every hop (`tls: true`):
  the workers follow the origin map and trust the run's CA certificate they got from the master (its key
  never leaves the master);
- a worker killed mid-phase is named in the report, with the seconds of its records that are missing,
  and the other's records are all there, in a run that ends normally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.contract import Env
from harness.records import read_records
from harness.run.journal import read_jsonl
from tests.netlab import NetLab, needs_netns

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), needs_netns]

SECRET = "fixed-test-client-secret-for-remote-workers"  # the same on every machine, by environment only
PORT = 5557  # each namespace has its own ports: Locust's default is free in the master's
NODES = ("remote-a", "remote-b")
SCENARIO = """
name: remote-{name}
seed: 7
proxy: {{kind: {proxy}}}
target: {{kind: embedded, tls: {tls}}}
load: {{users: 4, spawn_rate: 4, think_time_s: [0.0, 0.02]}}
flows: [{{flow: client_credentials}}]
retry: {{stop: {{after_attempt: 3}}, wait: {{fixed_s: 0.01}}, retry_on: [connect_error, timeout, reset, http_5xx]}}
phases:
{phases}
"""
KILL_PHASES = "  - {name: before, duration_s: 3}\n  - {name: after, duration_s: 5}"
SIGINT_PHASES = (
    "  - {name: baseline, duration_s: 1}\n  - name: slow\n    duration_s: 60\n"
    "    faults: [{type: latency, endpoint: token, latency_ms: 20}]"
)


class Cluster:
    """One master and two workers on their own machines, each started by this test and stopped by its PID."""

    def __init__(self, lab: NetLab, tmp: Path, name: str, phases: str, proxy: str = "embedded", tls: bool = False):
        self.lab, self.tmp = lab, tmp
        self.scenario = tmp / f"{name}.yaml"
        self.scenario.write_text(SCENARIO.format(name=name, phases=phases, proxy=proxy, tls=str(tls).lower()))
        self.out = tmp / "master" / "reports"
        self.env = {**os.environ, Env.CLIENT_SECRET: SECRET}
        self.env.pop(Env.CLIENT_ID, None)
        master = lab["master"]
        self.master_addr = f"{master.addr}:{PORT}"
        (tmp / "master").mkdir()
        self.master = subprocess.Popen(
            master.argv(sys.executable, "-m", "harness", "run", str(self.scenario), "--out", str(self.out),
                        "--master-bind", self.master_addr, "--expect-workers", "2", "--listen", master.addr,
                        "--workers-timeout", "60"),
            cwd=tmp / "master", env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        for node, machine in zip(NODES, ("w1", "w2"), strict=True):
            home = tmp / node  # a working directory of its own, as on another machine
            home.mkdir()
            with open(tmp / f"{node}.log", "wb") as log:
                self.workers[node] = subprocess.Popen(
                    lab[machine].argv(sys.executable, "-m", "harness", "worker", "--master", self.master_addr,
                                      "--node", node, "--out", str(home / "runs"), "--master-timeout", "10"),
                    cwd=home, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip

    def run_dir(self) -> Path:
        dirs = [p for p in self.out.glob("*") if p.is_dir() and (p / "journal.json").exists()]
        return dirs[0] if dirs else Path("/nonexistent")

    def timeline(self) -> list[dict[str, Any]]:
        return read_jsonl(self.run_dir() / "timeline.jsonl")

    def wait_for(self, what: str, ready: Any, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.master.poll() is None, f"the master ended early while waiting for {what}: {self.output()}"
            events = self.timeline()
            if ready(events):
                return events
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}: {self.output()}")

    def finish(self, timeout_s: float = 120.0) -> tuple[int, str]:
        output, _ = self.master.communicate(timeout=timeout_s)
        return self.master.returncode, output

    def output(self) -> str:
        logs = "\n".join(f"--- {n}:\n" + (self.tmp / f"{n}.log").read_text(errors="replace")[-3000:] for n in NODES)
        return logs

    def stop(self) -> None:
        processes: list[subprocess.Popen[Any]] = [self.master, *self.workers.values()]
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def lab() -> Iterator[NetLab]:
    with NetLab(["master", "w1", "w2"]) as made:
        yield made
    assert made.remaining() == []


def journal(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "journal.json").read_text())
    return data


def flushed_by_node(run_dir: Path) -> dict[str, int]:
    (event,) = [e for e in journal(run_dir)["events"] if e["kind"] == "workers_flushed"]
    by_node: dict[str, int] = event["by_node"]
    return by_node


def records(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (read_records(run_dir / "records", "attempts").to_pandas(),
            read_records(run_dir / "records", "operations").to_pandas())  # fmt: skip


def served_by_op(run_dir: Path) -> Counter[tuple[str, str, int]]:
    lines = [json.loads(line) for line in (run_dir / "logs" / "requests.jsonl").read_text().splitlines()]
    return Counter((s["op_id"], s["endpoint"], int(s["status"])) for s in lines if s["op_id"])


def attempt_keys(attempts: pd.DataFrame) -> Counter[tuple[str, str, int]]:
    wire = attempts[attempts["method"] != "VERIFY"]  # local token decisions never reach the target
    return Counter(zip(wire["op_id"], wire["endpoint"], wire["status"].astype(int), strict=True))


def check_worker_records(run_dir: Path, node: str, tmp: Path) -> Counter[tuple[str, str, int]]:
    """The node's records in the master's run directory (compacted there at the end of the run) are the
    worker's own shards, row for row, as many as it says it wrote; returns its attempts as (op id,
    endpoint, status)."""
    (copy,) = (tmp / node / "runs").glob("*/records")
    assert list(copy.glob("*.parquet")), node
    attempts, operations = records(run_dir)
    for kind, at_home in (("attempts", attempts), ("operations", operations)):
        on_worker = read_records(copy, kind).to_pandas()
        columns = list(on_worker.columns)
        theirs = at_home[at_home["node"] == node][columns].sort_values(columns).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            on_worker.sort_values(columns).reset_index(drop=True), theirs, check_dtype=False, obj=f"{node} {kind}"
        )
    mine = attempts[attempts["node"] == node]
    assert len(mine) + int((operations["node"] == node).sum()) == flushed_by_node(run_dir)[node]
    return attempt_keys(mine)


def test_sigint_stops_both_workers_leaves_no_fault_and_every_record_comes_home(lab: NetLab, tmp_path: Path) -> None:
    cluster = Cluster(lab, tmp_path, "sigint", SIGINT_PHASES, tls=True)  # the origin map and the run's CA travel
    try:
        cluster.wait_for("the fault and 1 s of load under it", lambda evs: any(
            e["kind"] == "fault_applied" and e["ts"] < time.time() - 1 for e in evs))  # fmt: skip
        os.kill(cluster.master.pid, signal.SIGINT)  # the orchestrator this test started (ip netns exec execs it)
        code, output = cluster.finish(timeout_s=90)
        worker_codes = {node: w.wait(30) for node, w in cluster.workers.items()}
    finally:
        cluster.stop()
    assert code == 3, output + cluster.output()
    assert worker_codes == {"remote-a": 0, "remote-b": 0}, cluster.output()  # released: everything home
    run_dir = cluster.run_dir()
    data = journal(run_dir)
    assert data["status"] == "interrupted"
    (fault,) = data["faults"]
    assert fault["removed_at"] is not None
    steps = {s["action"]: s for s in data["rollback"]}
    assert steps["remove faults"]["ok"] and "no toxic" in steps["remove faults"]["detail"], data["rollback"]
    assert all(s["ok"] for s in data["rollback"]), data["rollback"]
    for name in ("proxy", "target"):  # every process of the run is gone
        pid = int(data["services"][name]["pid"])
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()

    workers = {w["node"]: w for w in data["workers"]}
    assert set(workers) == set(NODES)
    for who in workers.values():
        assert who["remote"] and who["complete"] and who["missing"] is None, who
        assert who["host"] and who["pid"] > 0 and who["cores"] >= 1 and who["version"], who
    served = served_by_op(run_dir)
    recorded: Counter[tuple[str, str, int]] = Counter()
    for node in NODES:
        mine = check_worker_records(run_dir, node, tmp_path)
        assert sum(mine.values()) > 50, f"too little load from {node} to mean anything"
        assert mine - served == Counter(), f"{node} recorded requests the target never served"
        recorded += mine
    # what the target served and nobody recorded: only requests cut off when the load stopped (their op ids
    # appear nowhere in the records), at most one per simulated user
    cut_off = served - recorded
    attempts, _ = records(run_dir)
    assert not {op for op, _, _ in cut_off} & set(attempts["op_id"])
    assert sum(cut_off.values()) <= 4, cut_off
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {w["node"] for w in summary["workers"]} == set(NODES)
    assert summary["listen"] == lab["master"].addr
    assert lab["master"].addr in (run_dir / "report.html").read_text()
    for node in NODES:  # the worker's own copy holds no secret either (the master's is scanned by the run)
        files = [p.read_bytes() for p in (tmp_path / node).rglob("*") if p.is_file()]
        assert not any(SECRET.encode() in b or b"PRIVATE KEY" in b for b in files)
        assert any(b"BEGIN CERTIFICATE" in b for b in files)  # the run's CA certificate came, never its key


def test_a_worker_killed_mid_phase_is_named_with_its_missing_seconds(lab: NetLab, tmp_path: Path) -> None:
    cluster = Cluster(lab, tmp_path, "kill", KILL_PHASES, proxy="none")  # no fault here: no proxy to start
    try:
        events = cluster.wait_for("both workers and 2 s of load", lambda evs: any(
            e["kind"] == "phase_start" and e["ts"] < time.time() - 2 for e in evs))  # fmt: skip
        (joined,) = [e for e in events if e["kind"] == "worker_joined" and e["node"] == "remote-b"]
        os.kill(joined["pid"], signal.SIGKILL)  # its Locust process, which this test started through `harness worker`
        killed_at = time.time()
        code, output = cluster.finish()
    finally:
        cluster.stop()
    assert code == 0, output
    run_dir = cluster.run_dir()
    workers = {w["node"]: w for w in journal(run_dir)["workers"]}
    lost = workers["remote-b"]
    assert lost["complete"] is False and lost["lost"] is not None
    start, end = lost["missing"]
    assert start <= killed_at <= end + 0.5 and end - killed_at < 10
    assert lost["records"]["attempts"] > 0  # what it shipped while the run went on is home
    assert workers["remote-a"]["complete"] is True
    notes = " ".join(json.loads((run_dir / "summary.json").read_text())["notes"])
    assert "remote-b" in notes and "missing" in notes, notes
    # the other worker's records are all there and each is a request the target served
    mine = check_worker_records(run_dir, "remote-a", tmp_path)
    assert mine - served_by_op(run_dir) == Counter()
