"""A web UI session's tests, as the orchestrator follows them (fakes for the services; real records, real
report): a test begins when the session log says so, is watched (live.json, stop conditions), and is judged
and reported apart when it ends."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any, cast

import pytest

from harness.records import ShardWriter
from harness.run.console import Console
from harness.run.journal import Journal
from harness.run.uisession import UiSession

SCENARIO = """
name: ui-test
phases:
  - {name: calm, duration_s: 20}
  - {name: storm, duration_s: 10, faults: [{type: http_error, endpoint: token, status: 503, probability: 0.6}]}
slos:
  - {name: storm-availability, metric: availability, phases: [storm], at_least: 0.9}
stop_conditions:
  - {name: too-many-failures, metric: availability, window_s: 5, below: 0.6, min_samples: 20}
"""


class FakeStack:
    def __init__(self) -> None:
        self.chaos = self.target_chaos = self.proxy = None
        self.secret_values: list[str] = []

    def check(self) -> None:
        pass

    def probe(self) -> dict[str, Any]:
        return {"ts": time.time(), "ok": True, "detail": "fake"}


class FakeChoices:
    def __init__(self) -> None:
        self.source = Path("ui-test.yaml")
        self.sources: dict[str, Path] = {}


def write_test(out: Path, run_id: str, t0: float) -> Path:
    """A test's run directory as the Locust side leaves it: scenario, timeline and records of 30 s ending
    now: 20 calm seconds, then 10 in which 60% of the operations fail."""
    run_dir = out / run_id
    (run_dir / "records").mkdir(parents=True)
    (run_dir / "scenario.yaml").write_text(SCENARIO)
    events = [{"kind": "timeline_start", "ts": t0, "asked_at": t0},
              {"kind": "worker_joined", "ts": t0, "node": "local", "client_id": "c1", "host": "h", "pid": 7,
               "cores": 2, "version": "0.1.0", "remote": False},
              {"kind": "phase_start", "phase": "calm", "asked_at": t0, "ts": t0},
              {"kind": "phase_end", "phase": "calm", "asked_at": t0 + 20, "ts": t0 + 20},
              {"kind": "phase_start", "phase": "storm", "asked_at": t0 + 20, "ts": t0 + 20},
              {"kind": "fault_applied", "fault_id": "storm.0", "toxic": "t", "phase": "storm", "type": "http_error",
               "spec": {"type": "http_error", "endpoint": "token"}, "asked_at": t0 + 20, "ts": t0 + 20}]  # fmt: skip
    (run_dir / "timeline.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    ops = ShardWriter(run_dir / "records", "operations", "local")
    att = ShardWriter(run_dir / "records", "attempts", "local")
    for i in range(300):
        ts = t0 + i * 0.1
        outcome = "http_5xx" if ts >= t0 + 20 and i % 5 < 3 else "ok"
        phase = "calm" if ts < t0 + 20 else "storm"
        ops.append({"ts": ts, "op_id": f"o{i}", "flow": "client_credentials", "step": "token", "attempts": 1,
                    "outcome": outcome, "status": 200, "latency_ms": 5.0, "backoff_ms": 0.0, "phase": phase,
                    "user": "u", "node": "local", "intended_ts": None})  # fmt: skip
        att.append({"ts": ts, "op_id": f"o{i}", "flow": "client_credentials", "step": "token", "endpoint": "token",
                    "method": "POST", "attempt": 1, "status": 200, "outcome": outcome, "latency_ms": 5.0,
                    "bytes": 1, "phase": phase, "user": "u", "node": "local", "error": ""})  # fmt: skip
    ops.flush()
    att.flush()
    return run_dir


def test_a_test_is_watched_stopped_by_its_stop_condition_and_reported_apart(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "reports"
    session_dir = out / "20261205T000000Z-ui-test-ui"
    session_dir.mkdir(parents=True)
    stops: list[str] = []
    monkeypatch.setattr("harness.run.uisession.requests.post", lambda url, timeout: stops.append(url))
    t0 = time.time() - 30.5
    run_dir = write_test(out, "20261205T000001Z-ui-test", t0)
    log = session_dir / "session.jsonl"
    log.write_text(json.dumps({"kind": "test_started", "ts": t0, "run_id": run_dir.name, "scenario": "ui-test"}) + "\n")
    printed = io.StringIO()
    journal = Journal(session_dir / "session.json", session_dir.name, {"name": "ui-test"})
    stack, choices = cast(Any, FakeStack()), cast(Any, FakeChoices())
    session = UiSession(session_dir, stack, choices, Console(out=printed), "http://127.0.0.1:1", journal)

    session.tick()
    assert session.active is not None and session.active.run_dir == run_dir
    assert stops == ["http://127.0.0.1:1/stop"]  # the stop condition stopped the test, as Stop would
    live = json.loads((run_dir / "live.json").read_text())
    assert live["run_id"] == run_dir.name and live["faults"][0]["name"] == "storm.0"

    with log.open("a") as f:
        f.write(json.dumps({"kind": "test_ended", "ts": time.time(), "run_id": run_dir.name}) + "\n")
    session.tick()
    assert session.active is None and session.exit_code == 3
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["exit_code"], summary["verdict"]) == ("aborted", 3, "fail")
    saved = json.loads((run_dir / "journal.json").read_text())
    assert saved["stop_condition"]["condition"] == "too-many-failures"
    # who made the load, per test as for a headless run (the master tells each test's timeline who is in)
    (worker,) = saved["workers"]
    assert worker["node"] == "local" and worker["complete"] and worker["records"]["operations"] == 300
    assert [w["node"] for w in summary["workers"]] == ["local"]
    ended = json.loads((run_dir / "live.json").read_text())["ended"]
    assert ended["verdict"] == "fail" and ended["report"] == str((run_dir / "report.html").resolve())
    assert [s["state"] for s in json.loads((run_dir / "live.json").read_text())["slos"]] == ["fail"]
    assert f"report: {run_dir / 'report.html'}" in printed.getvalue()
    assert not (session_dir / "journal.json").exists()


@pytest.fixture(autouse=True)
def _no_network(monkeypatch) -> None:
    monkeypatch.setattr("harness.run.uisession.requests.get", lambda *a, **k: pytest.fail("no GET expected"))
