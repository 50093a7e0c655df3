"""One run, one set of numbers: the demo scenario run with `harness run`, then `harness notebook`; the
console's final lines, summary.json, journal.json, report.html, junit.xml and the notebook's page state
the same verdict, status and exit code as the process, and every SLO with the same observed value,
interval and objective; `harness report` rebuilds the same summary.json; the live lines came every few
seconds while it ran."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import pytest

from harness.records import read_manifest, shard_paths
from harness.report import wording
from tests.helpers import harness_argv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("agreement") / "reports"
    run = subprocess.run(
        harness_argv("run", str(DEMO), "--duration-scale", "0.2", "--out", str(out), "--progress-interval-s", "2"),
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    notebook = subprocess.run(harness_argv("notebook", str(run_dir)), capture_output=True, text=True, timeout=200)
    assert notebook.returncode == 0, notebook.stderr
    return run, run_dir


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_exit_code_status_and_verdict_agree_everywhere(demo) -> None:
    run, run_dir = demo
    summary = json.loads((run_dir / "summary.json").read_text())
    journal = json.loads((run_dir / "journal.json").read_text())
    assert summary["exit_code"] == run.returncode == journal["exit_code"], run.stdout + run.stderr
    assert summary["status"] == journal["status"]
    assert summary["verdict"] == ("pass" if run.returncode == 0 else "fail")
    assert f"status {summary['status']}, exit code {run.returncode}" in run.stdout
    suite = ET.parse(run_dir / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in suite.find("properties") or []}
    assert (props["exit_code"], props["status"], props["verdict"]) == (
        str(run.returncode), summary["status"], summary["verdict"])  # fmt: skip
    report = text_of((run_dir / "report.html").read_text())
    assert f"status {summary['status']}, exit code {run.returncode}" in report
    page = text_of((run_dir / "notebook.html").read_text())
    assert f"Verdict: {summary['verdict'].upper()}" in page
    assert f"status {summary['status']}, exit code {run.returncode}" in page


def test_every_slo_reads_the_same_in_console_report_junit_and_notebook(demo) -> None:
    run, run_dir = demo
    summary = json.loads((run_dir / "summary.json").read_text())
    report = text_of((run_dir / "report.html").read_text())
    notebook = text_of((run_dir / "notebook.html").read_text())
    cases = {c.get("name"): c for c in ET.parse(run_dir / "junit.xml").getroot().iter("testcase")}
    assert summary["slos"] and set(cases) == {s["name"] for s in summary["slos"]}
    for slo in summary["slos"]:
        line = wording.slo_line(slo)
        assert f"  {line}\n" in run.stdout, line  # the console's final lines
        observed = wording.value(slo["metric"], slo["observed"])
        assert observed in report and observed in notebook, (slo["name"], observed)
        if slo.get("interval"):
            shown = wording.interval(slo["metric"], slo["interval"])
            assert shown in report and shown in notebook, (slo["name"], shown)
        case = cases[slo["name"]]
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["observed"] == ("" if slo["observed"] is None else repr(slo["observed"]))
        assert case.findtext("system-out") == line
        assert (case.find("failure") is None) == (slo["verdict"] == "pass")


def test_headline_time_to_recover_is_the_slos(demo) -> None:
    _, run_dir = demo
    summary = json.loads((run_dir / "summary.json").read_text())
    (ttr,) = [s for s in summary["slos"] if s["metric"] == "time_to_recover_s"]
    measured = [f for f in summary["faults"] if f["time_to_recover_s"] is not None]
    worst = max(measured, key=lambda f: f["time_to_recover_s"])
    assert worst["phase"] == "brownout" and worst["time_to_recover_s"] == ttr["observed"]
    slow = next(f for f in summary["faults"] if f["phase"] == "slow-token")
    assert slow["time_to_recover_s"] is None and "brownout.0" in slow["recovery_note"]  # the next fault began
    report = text_of((run_dir / "report.html").read_text())
    value = wording.value("time_to_recover_s", ttr["observed"], unit=False)
    assert f"{value} worst time to recover (s), {worst['id']}" in report


def test_harness_report_rebuilds_the_same_summary(demo) -> None:
    _, run_dir = demo
    for kind in ("attempts", "operations"):  # the end of the run compacted them: rebuilt from that layout
        assert read_manifest(run_dir / "records", kind) is not None and not shard_paths(run_dir / "records", kind)
    before = (run_dir / "summary.json").read_text()
    rebuilt = subprocess.run(harness_argv("report", str(run_dir)), capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == json.loads(before)["exit_code"]
    assert (run_dir / "summary.json").read_text() == before


def test_the_run_was_watchable_and_said_what_its_figures_cover(demo) -> None:
    run, _ = demo
    lines = [line for line in run.stdout.splitlines() if re.match(r"^  \d\d:\d\d ", line)]
    assert len(lines) >= 4, run.stdout  # about every 2 s over a run of 18 s
    assert all("req/s" in line and "ops " in line and "p95 " in line and "(last 5 s)" in line for line in lines)
    assert all("| SLOs: steady-availability " in line for line in lines)


def test_report_and_compare_pages_fit_a_1280_px_window_and_need_no_network(demo, tmp_path: Path) -> None:
    import os
    import urllib.parse

    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("/usr/bin/chromium is missing (apt-get install chromium)")
    _, run_dir = demo
    compared = subprocess.run(harness_argv("compare", str(run_dir), str(run_dir), "--out", str(tmp_path / "cmp")),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    pages = [run_dir / "report.html", run_dir / "notebook.html", tmp_path / "cmp" / "compare.html"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            fetched: list[str] = []
            page.on("request", lambda r: fetched.append(r.url)
                    if urllib.parse.urlsplit(r.url).scheme not in ("file", "data") else None)  # fmt: skip
            for path in pages:
                page.goto(path.as_uri())
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 1280, f"{path.name} is {width} px wide: a 1280-px window scrolls sideways"
        finally:
            browser.close()
    assert fetched == [], f"the pages fetched from the network: {fetched}"
