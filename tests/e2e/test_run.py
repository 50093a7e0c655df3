"""End to end: `harness run` on a 20-second scenario with a brownout in the middle, every part real
(target, proxy, Locust, records, report). Asserts what an SRE would look at in the run directory."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.compute as pc
import pytest
import requests

from harness.records import read_records
from tests.helpers import free_port, harness_argv, running_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SCENARIO = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "e2e" / "short-brownout.yaml"


def run_harness(scenario: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harness_argv("run", str(scenario), "--out", str(out), *extra),
        capture_output=True,
        text=True,
        timeout=200,
    )


def only_run_dir(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return run_dir


@pytest.fixture(scope="module")
def shared_proxy(tmp_path_factory: pytest.TempPathFactory):
    """A fault proxy the test owns, so it can look at it after the run has finished."""
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("proxy-logs")
    with running_process(harness_argv("proxy", "--port", str(port)), log_dir=logs, name="proxy",
                         ready_url=f"{api}/version"):
        yield api


@pytest.fixture(scope="module")
def brownout_run(tmp_path_factory: pytest.TempPathFactory, shared_proxy: str):
    tmp = tmp_path_factory.mktemp("e2e")
    scenario = tmp / "short-brownout.yaml"
    scenario.write_text(
        SCENARIO.read_text().replace("proxy: {kind: embedded}", f"proxy: {{kind: toxiproxy, api: '{shared_proxy}'}}")
    )
    result = run_harness(scenario, tmp / "reports")
    return result, only_run_dir(tmp / "reports")


def test_exit_code_says_an_slo_failed(brownout_run) -> None:
    result, run_dir = brownout_run
    assert result.returncode == 1, result.stdout + result.stderr
    assert "report:" in result.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    verdicts = {s["name"]: s["verdict"] for s in summary["slos"]}
    assert verdicts == {"steady": "pass", "brownout-ops": "pass", "brownout-attempts": "fail", "fail-closed": "pass"}


def test_records_show_retries_hiding_the_brownout(brownout_run) -> None:
    _, run_dir = brownout_run
    attempts = read_records(run_dir / "records", "attempts")
    operations = read_records(run_dir / "records", "operations")
    assert attempts.num_rows > 50 and operations.num_rows > 20

    # The fault is on the token endpoint only; the journey's other steps (discovery, introspection) are
    # not touched, so the token step is where the numbers are known: half its attempts fail, and with up
    # to 4 attempts an operation takes 1 + 1/2 + 1/4 + 1/8 = 1.875 attempts on average.
    token_attempts = attempts.filter(pc.equal(attempts["endpoint"], "token"))
    token_steps = operations.filter(pc.equal(operations["step"], "token"))

    def count(table, phase: str) -> int:
        return int(pc.sum(pc.equal(table["phase"], phase)).as_py() or 0)

    assert count(token_attempts, "brownout") > count(token_steps, "brownout") * 1.5  # retries happened
    assert count(token_attempts, "baseline") == count(token_steps, "baseline")  # and only under the fault
    in_brownout = token_attempts.filter(pc.equal(token_attempts["phase"], "brownout"))
    ok_share = pc.sum(pc.equal(in_brownout["outcome"], "ok")).as_py() / in_brownout.num_rows
    assert ok_share == pytest.approx(0.5, abs=0.1)

    summary = json.loads((run_dir / "summary.json").read_text())
    phases = summary["phases"]
    assert phases["brownout"]["availability"]["attempt"] < phases["baseline"]["availability"]["attempt"]
    assert phases["baseline"]["availability"]["operation"] == 1.0
    assert phases["brownout"]["attempts_per_operation"] > 1.2


def test_journal_has_phases_and_fault_removal(brownout_run) -> None:
    _, run_dir = brownout_run
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "failed" and journal["exit_code"] == 1
    assert [p["name"] for p in journal["phases"]] == ["baseline", "brownout", "recovery"]
    (fault,) = journal["faults"]
    assert fault["type"] == "http_error" and fault["error"] is None
    assert fault["applied_at"] >= fault["apply_asked_at"]
    assert fault["removed_at"] is not None and fault["removed_at"] >= fault["remove_asked_at"]
    assert fault["removed_at"] - fault["remove_asked_at"] < 1.0
    assert all(step["ok"] for step in journal["rollback"]), journal["rollback"]


def test_nothing_is_left_on_the_proxy(brownout_run, shared_proxy: str) -> None:
    proxies = requests.get(f"{shared_proxy}/proxies", timeout=5).json()
    assert proxies == {}, "the run must remove its proxy and every toxic it added"


def test_report_and_junit_are_written(brownout_run) -> None:
    _, run_dir = brownout_run
    html = (run_dir / "report.html").read_text()
    assert "brownout-attempts" in html and "data:image/png;base64," in html
    suite = ET.parse(run_dir / "junit.xml").getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"steady", "brownout-ops", "brownout-attempts", "fail-closed"}
    assert cases["brownout-attempts"].find("failure") is not None
    assert cases["steady"].find("failure") is None


def test_no_secret_reaches_the_run_directory(brownout_run) -> None:
    _, run_dir = brownout_run
    texts = [p.read_bytes() for p in run_dir.rglob("*") if p.is_file()]
    assert not any(b"access_token" in t and b"eyJ" in t for t in texts)  # no token response body anywhere
    assert not any(b"BEGIN PRIVATE KEY" in t or b'"d":' in t for t in texts)  # no signing key


def test_embedded_default_rolls_back_and_reports(tmp_path: Path) -> None:
    """The default path (`make run`): harness starts its own proxy; a shortened run still ends cleanly."""
    result = run_harness(SCENARIO, tmp_path / "reports", "--duration-scale", "0.5")
    run_dir = only_run_dir(tmp_path / "reports")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    journal = json.loads((run_dir / "journal.json").read_text())
    actions = {step["action"]: step for step in journal["rollback"]}
    assert actions["remove faults"]["ok"] and "no toxic remains" in actions["remove faults"]["detail"]
    assert {"stop target", "stop proxy", "stop locust"} <= set(actions)
    assert (run_dir / "report.html").exists() and (run_dir / "summary.json").exists()


def test_bad_scenario_starts_nothing(tmp_path: Path) -> None:
    bad = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "invalid" / "bad-status.yaml"
    result = run_harness(bad, tmp_path / "reports")
    assert result.returncode == 2
    assert f"{bad}:10: phases.1.faults.0.status" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
