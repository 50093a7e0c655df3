"""Runs interrupted at random points (SIGINT, SIGTERM, SIGKILL) and runs aborted by a stop condition:
no toxic may stay on the proxy, no process may outlive the run, the journal must say what happened,
and the records must stay readable. SIGKILL leaves the cleanup to the next start (`harness cleanup`)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.chaos.procs import process_start_ticks
from harness.records import read_records
from tests.helpers import free_port, harness_argv, running_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "e2e"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
CASES = 21  # seven of each signal


@pytest.fixture(scope="module")
def shared_proxy(tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with running_process(harness_argv("proxy", "--port", str(port)), log_dir=tmp_path_factory.mktemp("proxy"),
                         name="proxy", ready_url=f"{api}/version"):
        yield api


def on_proxy(api: str, fixture: str, tmp: Path) -> Path:
    scenario = tmp / fixture
    text = (FIXTURES / fixture).read_text()
    scenario.write_text(text.replace("proxy: {kind: embedded}", f"proxy: {{kind: toxiproxy, api: '{api}'}}"))
    return scenario


def run_dirs(out: Path) -> list[Path]:
    return [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")] if out.exists() else []


def alive(pid: int) -> bool:
    return process_start_ticks(pid) is not None


def our_proxies(api: str, run_dir: Path) -> list[str]:
    """Proxies this run made on the shared proxy that are still there."""
    journal = json.loads((run_dir / "journal.json").read_text())
    name = journal.get("services", {}).get("proxy", {}).get("name")
    return [n for n in requests.get(f"{api}/proxies", timeout=5).json() if n == name]


def interrupt_once(case: int, api: str, tmp: Path) -> dict[str, Any]:
    rng = random.Random(case)
    sig = SIGNALS[case % 3]
    delay = rng.uniform(0.0, 7.0)
    out = tmp / f"case{case}"
    scenario = on_proxy(api, "interrupt.yaml", tmp / f"s{case}")
    proc = subprocess.Popen(harness_argv("run", str(scenario), "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob("*/journal.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # from the moment the run exists (start-up time varies with the machine's load)
    time.sleep(delay)  # the random point of interruption is what this test is about
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=90)
    children: list[int] = []
    if sig == signal.SIGKILL:
        for reg in (out / ".active").glob("*.json") if (out / ".active").exists() else []:
            children += [c["pid"] for c in json.loads(reg.read_text())["children"]]
        cleanup = subprocess.run(harness_argv("cleanup", "--out", str(out)), capture_output=True, text=True,
                                 timeout=60)
        assert cleanup.returncode == 0, cleanup.stderr
    return {"case": case, "signal": sig.name, "delay": delay, "rc": proc.returncode, "out": out,
            "output": output, "children": children}


@pytest.fixture(scope="module")
def interrupted(shared_proxy: str, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("interrupt")
    for case in range(CASES):
        (tmp / f"s{case}").mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda c: interrupt_once(c, shared_proxy, tmp), range(CASES)))


def test_every_signal_was_exercised(interrupted: list[dict[str, Any]]) -> None:
    assert {r["signal"] for r in interrupted} == {"SIGINT", "SIGTERM", "SIGKILL"}
    assert len(interrupted) >= 20


def test_sigint_and_sigterm_roll_back_and_exit_3(interrupted: list[dict[str, Any]], shared_proxy: str) -> None:
    for r in (r for r in interrupted if r["signal"] != "SIGKILL"):
        context = f"case {r['case']} {r['signal']} at {r['delay']:.1f} s (rc {r['rc']}):\n{r['output']}"
        dirs = run_dirs(r["out"])
        assert len(dirs) == 1, context
        run_dir = dirs[0]
        journal = json.loads((run_dir / "journal.json").read_text())
        assert r["rc"] == 3, context
        assert journal["status"] == "interrupted" and journal["exit_code"] == 3, context
        assert all(step["ok"] for step in journal["rollback"]), context
        assert our_proxies(shared_proxy, run_dir) == [], context
        for service in journal["services"].values():
            assert not service.get("pid") or not alive(service["pid"]), context
        read_records(run_dir / "records", "attempts")
        read_records(run_dir / "records", "operations")
        assert (run_dir / "report.html").exists(), context
        assert not (r["out"] / ".active").exists(), context


def test_sigkill_is_cleaned_up_by_the_next_start(interrupted: list[dict[str, Any]], shared_proxy: str) -> None:
    for r in (r for r in interrupted if r["signal"] == "SIGKILL"):
        context = f"case {r['case']} SIGKILL at {r['delay']:.1f} s"
        assert r["rc"] == -signal.SIGKILL
        for pid in r["children"]:
            assert not alive(pid), f"{context}: pid {pid} outlived the cleanup"
        for run_dir in run_dirs(r["out"]):
            journal = json.loads((run_dir / "journal.json").read_text())
            assert journal["status"] == "crashed", context
            assert our_proxies(shared_proxy, run_dir) == [], context
            read_records(run_dir / "records", "attempts")
            rebuilt = subprocess.run(harness_argv("report", str(run_dir)), capture_output=True, text=True, timeout=60)
            assert rebuilt.returncode == 4, rebuilt.stderr  # a crashed run's exit code, whatever its SLOs say
            summary = json.loads((run_dir / "summary.json").read_text())
            assert summary["status"] == "crashed" and summary["complete"] is False, context
            assert (summary["exit_code"], summary["verdict"]) == (4, "fail"), context
    assert requests.get(f"{shared_proxy}/proxies", timeout=5).json() == {}


def test_stop_condition_aborts_with_exit_3(shared_proxy: str, tmp_path: Path) -> None:
    scenario = on_proxy(shared_proxy, "stop-condition.yaml", tmp_path)
    started = time.monotonic()
    result = subprocess.run(harness_argv("run", str(scenario), "--out", str(tmp_path / "out")),
                            capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stdout + result.stderr
    assert elapsed < 30, "the outage phase lasts 30 s; the stop condition must cut it short"
    assert "stop condition idp-down" in result.stderr
    (run_dir,) = run_dirs(tmp_path / "out")
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "aborted"
    assert journal["stop_condition"]["condition"] == "idp-down"
    assert journal["stop_condition"]["observed"] < 0.5
    (fault,) = journal["faults"]
    assert fault["removed_at"] is not None
    assert journal["steady_state"]["before"]["ok"] is True
    assert our_proxies(shared_proxy, run_dir) == []
    assert any(e["kind"] == "stop_condition" for e in journal["events"])


@pytest.mark.parametrize("victim", ["target", "locust"])
def test_a_dying_service_ends_the_run_cleanly(victim: str, shared_proxy: str, tmp_path: Path) -> None:
    """The target crashing, or the load generator being killed, mid-fault: exit 4, faults removed,
    every other process stopped, and the journal says what happened."""
    scenario = on_proxy(shared_proxy, "interrupt.yaml", tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen(harness_argv("run", str(scenario), "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    pid = None
    while pid is None and proc.poll() is None and time.monotonic() < deadline:
        journals = list(out.glob("*/journal.json"))
        if journals:
            journal = json.loads(journals[0].read_text())
            if journal.get("faults"):  # folded in live: the fault is on
                pid = journal["services"].get(victim, {}).get("pid")
        time.sleep(0.05)
    assert pid is not None, "the run never reached its fault phase"
    os.kill(pid, signal.SIGKILL)  # a PID this test's own run started
    output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 4, output
    (run_dir,) = run_dirs(out)
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "crashed", output
    assert any(victim in err for err in journal["errors"]), journal["errors"]
    assert all(step["ok"] for step in journal["rollback"]), journal["rollback"]
    assert our_proxies(shared_proxy, run_dir) == []
    for service in journal["services"].values():
        assert not service.get("pid") or not alive(service["pid"])
    read_records(run_dir / "records", "attempts")
