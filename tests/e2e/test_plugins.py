"""Plugins end to end, installed as a user installs them (pip, into a directory of their own on the
subprocesses' PYTHONPATH: the test venv stays clean):

- the skeleton `harness init --plugin` writes installs, is listed, and its scenario runs to a report with
  its flow's operations in the records, its probe before and after, its fault applied and reverted, and
  its metric judged in an SLO: the number of summary.json (= junit.xml, report.html, the live view) is
  the one the records give;
- the test plugin (tests/fixtures/harness_testplugin): its flow (by name and by module:Class reference)
  recorded with retries, its metric (a query) judged in an SLO of the aborted run's report (and its
  notebook) with the number the records give, its probe stopping the run (exit 3) while its fault is on, and the fault
  rolled back on that exit, on SIGINT, and by `harness cleanup` after the orchestrator was SIGKILLed.

Each run has a few seconds of load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from harness.records import read_records
from harness.report import wording
from tests.helpers import harness_argv
from tests.plugin_support import FIXTURE, install, plugin_env, registry_with

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FIXTURE_SCENARIO = """
name: plugin-e2e
seed: 11
target: {kind: embedded}
proxy: {kind: embedded}
load: {users: 3, spawn_rate: 3, think_time_s: [0.05, 0.1]}
flows:
  - {flow: testplugin_checkout, weight: 2}
  - {flow: "harness_testplugin.journeys:Checkout", name: checkout-by-reference}
retry:
  stop: {after_attempt: 4}
  wait: {exponential_jitter: {initial_s: 0.01, max_s: 0.05}}
phases:
  - name: baseline
    duration_s: 1
    faults: [{type: http_error, endpoint: token, status: 503, probability: 0.4}]
  - name: maintenance
    duration_s: 20
    faults: [{type: testplugin_flag, path: "${FLAG}"}]
  - {name: recovery, duration_s: 1}
probes:
  - {name: flag, type: testplugin_flag_absent, path: "${FLAG}", every_s: 1}
slos:
  - {name: verified, metric: testplugin_verify_ok, flows: [testplugin_checkout], at_least: 0.5}
"""
# interrupted while the plugin's fault is on: no proxy, no brownout (less to start)
INTERRUPTED = (FIXTURE_SCENARIO.replace("{kind: embedded}\nload", "{kind: none}\nload")
               .replace("    faults: [{type: http_error, endpoint: token, status: 503, probability: 0.4}]\n", ""))


def own_registry(tmp: Path, site: Path) -> dict[str, str]:
    """The environment of a run with the plugin installed and a registry of runs of its own (so `harness
    cleanup` here sees this run only)."""
    runtime_dir = tmp / "xdg-runtime"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    return plugin_env(site, {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir), "FLAG": str(tmp / "flag")})


def only_run_dir(out: Path) -> Path:
    (found,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return found


@pytest.fixture(scope="module")
def testplugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(FIXTURE, tmp_path_factory.mktemp("testplugin") / "site")


def test_the_skeleton_installs_lists_and_runs_to_a_report(tmp_path: Path) -> None:
    init = subprocess.run(harness_argv("init", "--plugin", "acme_sso"), cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert init.returncode == 0, init.stderr
    site = install(tmp_path / "acme_sso", tmp_path / "site")
    env = plugin_env(site, {**os.environ, "TMPDIR": str(tmp_path), "BASELINE_S": "1"})
    listed = subprocess.run(harness_argv("scenarios", "--plugins"), capture_output=True, text=True, timeout=60,
                            env=env)  # fmt: skip
    for name in ("acme_sso_checkout", "acme_sso_maintenance", "acme_sso_not_in_maintenance",
                 "acme_sso_slowest_second_p95_ms"):
        assert f"{name}" in listed.stdout and "acme_sso 0.1.0" in listed.stdout, listed.stdout
    run = subprocess.run(harness_argv("run", str(tmp_path / "acme_sso" / "scenario.yaml"), "--out",
                                      str(tmp_path / "out"), "--set", "phases.1.duration_s=3",
                                      "--set", "phases.2.duration_s=1", "--progress-interval-s", "1"),
                         capture_output=True, text=True, timeout=180, env=env)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    run_dir = only_run_dir(tmp_path / "out")
    operations = read_records(run_dir / "records", "operations")
    checkout = operations.filter(pc.equal(operations["flow"], "acme_sso_checkout"))
    ok = pc.sum(pc.equal(checkout["outcome"], "ok")).as_py()
    assert checkout.num_rows > 5 and ok >= 0.9 * checkout.num_rows  # its SLO; the brownout is retried
    assert pc.max(checkout["attempts"]).as_py() > 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [p["ok"] for p in summary["steady_state"]["before"]["probes"]] == [True]
    assert [p["ok"] for p in summary["steady_state"]["after"]["probes"]] == [True]
    assert summary["verdict"] == "pass"
    (log,) = (run_dir / "logs").glob("fault-*.log")
    assert "maintenance on" in log.read_text() and "maintenance off" in log.read_text()
    assert not (tmp_path / "acme_sso-maintenance.flag").exists()
    resolved = (run_dir / "scenario.yaml").read_text()  # parameters and overrides applied
    assert "duration_s: 3" in resolved and str(tmp_path) in resolved and "${" not in resolved
    # its metric, judged in an SLO: the worst per-second p95 of the checkout's step operations, from the records
    (slo,) = [s for s in summary["slos"] if s["metric"] == "acme_sso_slowest_second_p95_ms"]
    steps = checkout.filter(pc.not_equal(checkout["step"], "journey"))
    window = np.floor(steps["ts"].to_numpy() - summary["test_start"])
    latency = steps["latency_ms"].to_numpy()
    expected = max(float(np.percentile(latency[window == w], 95)) for w in np.unique(window))
    assert slo["verdict"] == "pass" and slo["observed"] == pytest.approx(expected, rel=1e-9)
    assert f'name="{slo["name"]}"' in (run_dir / "junit.xml").read_text()
    assert slo["name"] in (run_dir / "report.html").read_text()
    # the live view judged it too, with the report's code (a line a second: judged several times in the run)
    live = json.loads((run_dir / "live.json").read_text())
    assert [s["state"] for s in live["slos"] if s["name"] == slo["name"]] in (["holding"], ["no data yet"])


def start(tmp: Path, site: Path, scenario_text: str) -> tuple[subprocess.Popen[str], Path]:
    scenario = tmp / "plugin-e2e.yaml"
    scenario.write_text(scenario_text)
    proc = subprocess.Popen(harness_argv("run", str(scenario), "--out", str(tmp / "out")), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=own_registry(tmp, site))  # fmt: skip
    return proc, tmp / "flag"


def wait_for(flag: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while not flag.exists():  # polls: the fault is on once its apply has run
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.05)


def test_the_probe_stops_the_run_the_fault_is_rolled_back_and_the_flow_retried(tmp_path: Path,
                                                                               testplugin: Path) -> None:  # fmt: skip
    text = FIXTURE_SCENARIO + "stop_conditions:\n  - {probe: flag, failures: 2}\n"
    proc, flag = start(tmp_path, testplugin, text)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 3, output[-3000:]
    assert not flag.exists()  # the abort reverted the fault
    run_dir = only_run_dir(tmp_path / "out")
    journal = json.loads((run_dir / "journal.json").read_text())
    assert "probe flag failed 2 times in a row" in json.dumps(journal["stop_condition"])
    (fault,) = [f for f in journal["faults"] if f["type"] == "testplugin_flag"]
    assert fault["applied_at"] is not None and fault["removed_at"] is not None and not fault["error"]
    attempts = read_records(run_dir / "records", "attempts")
    operations = read_records(run_dir / "records", "operations")
    for label in ("testplugin_checkout", "checkout-by-reference"):
        ops = operations.filter(pc.equal(operations["flow"], label))
        steps = attempts.filter(pc.equal(attempts["flow"], label))
        assert ops.num_rows > 0, label
        assert pc.max(steps["attempt"]).as_py() > 1, f"{label}: no retry under the 40% brownout"
        assert {"checkout_token", "checkout_verify"} <= set(steps["step"].to_pylist())
    # the plugin's metric, in the report of the aborted run: the share of the checkout's verifications that succeeded
    (slo,) = json.loads((run_dir / "summary.json").read_text())["slos"]
    mine = operations.filter(pc.equal(operations["flow"], "testplugin_checkout"))
    verify = mine.filter(pc.equal(mine["step"], "checkout_verify"))
    expected = pc.sum(pc.equal(verify["outcome"], "ok")).as_py() / verify.num_rows
    assert (slo["metric"], slo["verdict"]) == ("testplugin_verify_ok", "pass")
    assert slo["observed"] == pytest.approx(expected, rel=1e-12)
    notebook = subprocess.run(harness_argv("notebook", str(run_dir)), capture_output=True, text=True, timeout=180,
                              env=own_registry(tmp_path, testplugin))  # fmt: skip
    assert notebook.returncode == 0, notebook.stderr[-3000:]
    page = (run_dir / "notebook.html").read_text()  # the notebook's SLO table: the summary's number, worded
    with registry_with():  # the plugin's metric is a share: it reads as a percentage, where it is installed
        observed = wording.slo_observed(slo)
    assert "verified" in page and observed in page and observed.endswith("%")


def test_sigint_rolls_the_plugin_fault_back(tmp_path: Path, testplugin: Path) -> None:
    proc, flag = start(tmp_path, testplugin, INTERRUPTED)
    wait_for(flag, proc)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, output[-3000:]
    assert not flag.exists()
    log = next((only_run_dir(tmp_path / "out") / "logs").glob("fault-*.log")).read_text()
    assert "wrote" in log and "removed" in log


def test_cleanup_reverts_the_plugin_fault_after_sigkill(tmp_path: Path, testplugin: Path) -> None:
    proc, flag = start(tmp_path, testplugin, INTERRUPTED)
    wait_for(flag, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert flag.exists()  # nobody reverted it: the orchestrator is gone
    env = own_registry(tmp_path, testplugin)
    cleanup = subprocess.run(harness_argv("cleanup"), capture_output=True, text=True, timeout=90, env=env)
    assert cleanup.returncode == 0, cleanup.stderr
    assert "reverted plugin fault" in cleanup.stdout and not flag.exists(), cleanup.stdout
    again = subprocess.run(harness_argv("cleanup"), capture_output=True, text=True, timeout=60, env=env)
    assert "nothing left behind" in again.stdout
