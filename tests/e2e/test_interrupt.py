"""Runs interrupted at random points (SIGINT, SIGTERM, SIGHUP, SIGKILL) and runs aborted by a stop
condition: no toxic may stay on the proxy, no process may outlive the run, the journal must say what
happened, and the records must stay readable. After a SIGKILL the run's children die with it (within a
second) and the rest (its proxy on a shared Toxiproxy, its journal) is left to the next start anywhere
(`harness cleanup`, from another directory: the registry of runs is one per user).

Each run gets its own XDG_RUNTIME_DIR, so its registry is its own: other runs on the machine (other
test suites) cannot clean up after it first."""

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

from harness.chaos.procs import process_start_ticks, worker_pids
from harness.records import read_records
from tests.helpers import free_port, harness_argv, running_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "e2e"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)
CASES = 12  # three of each signal, each at its own random point (make test's time budget)


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


def own_registry(tmp: Path) -> dict[str, str]:
    """The environment of a run whose registry of runs (harness.run.leftovers) is its own."""
    runtime_dir = tmp / "xdg"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)}


def registrations(env: dict[str, str]) -> list[dict[str, Any]]:
    registry = Path(env["XDG_RUNTIME_DIR"]) / "harness" / "active"
    return [json.loads(p.read_text()) for p in registry.glob("*.json")] if registry.exists() else []


def gone_within(pids: list[int], seconds: float) -> list[int]:
    """The PIDs still alive after `seconds` (polled)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.01)
    return [p for p in pids if alive(p)]


def interrupt_once(case: int, api: str, tmp: Path) -> dict[str, Any]:
    rng = random.Random(case)
    sig = SIGNALS[case % len(SIGNALS)]
    delay = rng.uniform(0.0, 7.0)
    out = tmp / f"case{case}"
    scenario = on_proxy(api, "interrupt.yaml", tmp / f"s{case}")
    env = own_registry(tmp / f"s{case}")
    proc = subprocess.Popen(harness_argv("run", str(scenario), "--out", str(out)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not list(out.glob("*/journal.json")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # from the moment the run exists (start-up time varies with the machine's load)
    time.sleep(delay)  # the random point of interruption is what this test is about
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=90)
    children: list[int] = []
    outlived: list[int] = []
    if sig == signal.SIGKILL:
        children = [c["pid"] for reg in registrations(env) for c in reg["children"]]
        outlived = gone_within(children, 1.0)
        # the next start anywhere: no --out, another working directory
        cleanup = subprocess.run(harness_argv("cleanup"), capture_output=True, text=True, timeout=60, env=env,
                                 cwd=tmp)
        assert cleanup.returncode == 0, cleanup.stderr
    return {"case": case, "signal": sig.name, "delay": delay, "rc": proc.returncode, "out": out,
            "output": output, "children": children, "outlived": outlived, "env": env}


@pytest.fixture(scope="module")
def interrupted(shared_proxy: str, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("interrupt")
    for case in range(CASES):
        (tmp / f"s{case}").mkdir()
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda c: interrupt_once(c, shared_proxy, tmp), range(CASES)))


def test_every_signal_was_exercised(interrupted: list[dict[str, Any]]) -> None:
    assert {r["signal"] for r in interrupted} == {"SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"}
    assert len(interrupted) == CASES


def test_sigint_sigterm_and_sighup_roll_back_and_exit_3(interrupted: list[dict[str, Any]], shared_proxy: str) -> None:
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
        assert registrations(r["env"]) == [], context


def test_sigkill_is_cleaned_up_by_the_next_start(interrupted: list[dict[str, Any]], shared_proxy: str) -> None:
    for r in (r for r in interrupted if r["signal"] == "SIGKILL"):
        context = f"case {r['case']} SIGKILL at {r['delay']:.1f} s"
        assert r["rc"] == -signal.SIGKILL
        assert r["outlived"] == [], f"{context}: {r['outlived']} outlived the orchestrator by more than 1 s"
        for pid in r["children"]:
            assert not alive(pid), f"{context}: pid {pid} outlived the cleanup"
        assert registrations(r["env"]) == [], context
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


def test_sigkill_takes_the_proxy_target_and_load_down_within_a_second(tmp_path: Path) -> None:
    """The orchestrator killed hard while its fault is on: its own proxy stops listening, and the target
    (main and uvicorn workers) and Locust exit, within a second, with nobody cleaning up."""
    out = tmp_path / "out"
    env = own_registry(tmp_path)
    scenario = tmp_path / "interrupt.yaml"  # with two uvicorn workers: the target's own children must go too
    scenario.write_text((FIXTURES / "interrupt.yaml").read_text() + "target: {kind: embedded, workers: 2}\n")
    proc = subprocess.Popen(harness_argv("run", str(scenario), "--out", str(out)), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    services: dict[str, Any] = {}
    while proc.poll() is None and time.monotonic() < deadline:
        journals = list(out.glob("*/journal.json"))
        journal = json.loads(journals[0].read_text()) if journals else {}
        if journal.get("faults") and "locust" in journal.get("services", {}):  # the fault is on
            services = journal["services"]
            break
        time.sleep(0.05)
    assert services, "the run never reached its fault phase"
    pids = {name: services[name]["pid"] for name in ("target", "proxy", "locust")}
    pids |= {f"target worker {w}": w for w in worker_pids(pids["target"])}
    assert len(pids) == 5, pids
    listen = services["proxy"]["listen"]
    assert requests.get(f"http://{listen}/healthz", timeout=5).status_code == 200
    os.kill(proc.pid, signal.SIGKILL)  # the orchestrator this test started
    proc.communicate(timeout=30)
    left = gone_within(list(pids.values()), 1.0)
    assert left == [], {name: pid for name, pid in pids.items() if pid in left}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{listen}/healthz", timeout=2)
    cleanup = subprocess.run(harness_argv("cleanup"), capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert cleanup.returncode == 0 and "found leftovers" in cleanup.stdout, cleanup.stdout + cleanup.stderr
