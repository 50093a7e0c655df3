"""The web UI in a real browser, as a user drives it: `harness ui` on a short scenario; the start form shows
the scenario picker and the chosen scenario's users and ramp-up; a test of another scenario from the same
folder, watched in the Resilience tab (coloured SLO table, live SVG charts with the fault window shaded)
and on Locust's own charts (the fault window drawn over them); its verdict and report shown when it ends;
then a second test (New, Start) that writes a run directory of its own; Ctrl-C; two reports that never
mix, and the terminal saying each verdict and report.

Headless Chromium from the Debian package, driven by Playwright (never `playwright install`); every
request the page makes stays on loopback (nothing from a CDN)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from harness.analysis.summary import build_summary
from harness.records import read_manifest, shard_paths
from tests.helpers import free_port, harness_argv, wait_http_ok

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCENARIO = """
name: ui-short
description: a few seconds of baseline, a brownout on token, recovery
seed: 3
load: {users: 3, spawn_rate: 3, think_time_s: [0.05, 0.1]}
retry: {stop: {after_attempt: 3}, wait: {fixed_s: 0.02}}
phases:
  - {name: baseline, duration_s: 4}
  - name: brownout
    duration_s: 4
    faults: [{type: http_error, endpoint: token, status: 503, probability: 0.5}]
  - {name: recovery, duration_s: 3}
slos:
  - {name: brownout-ops, metric: availability, phases: [brownout], at_least: 0.5}
"""
# beside it in the same folder, so the form offers it; same target and proxy, so it may run instead
OTHER = """
name: ui-other
description: a few seconds of calm, then throttling on token
seed: 4
load: {users: 4, spawn_rate: 2, think_time_s: [0.05, 0.1]}
retry: {stop: {after_attempt: 3}, wait: {fixed_s: 0.02}}
phases:
  - {name: calm, duration_s: 4}
  - name: throttled
    duration_s: 4
    faults: [{type: http_error, endpoint: token, status: 429, probability: 0.5}]
  - {name: after, duration_s: 3}
slos:
  - {name: throttled-ops, metric: availability, phases: [throttled], at_least: 0.5}
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture
def ui_url(tmp_path: Path):
    scenario = tmp_path / "ui-short.yaml"
    scenario.write_text(SCENARIO)
    (tmp_path / "ui-other.yaml").write_text(OTHER)
    port = free_port()
    log_path = tmp_path / "harness-ui.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        harness_argv("ui", str(scenario), "--out", str(tmp_path / "reports"), "--web-port", str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def stop() -> int:
        """Ctrl-C, as a user ends `harness ui`: the orchestrator rolls back and reports the last test."""
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    try:
        wait_http_ok(f"http://127.0.0.1:{port}/", timeout_s=40, process=process)
        yield f"http://127.0.0.1:{port}", tmp_path / "reports", stop, log_path
    finally:
        stop()
        log.close()


def wait_for(page, script: str, timeout_s: float, what: str):
    """Poll a JavaScript expression in the page until it is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(script)
        if value:
            return value
        page.wait_for_timeout(250)
    raise AssertionError(f"the page never showed {what}; last: {value!r}")


def test_two_tests_in_the_web_ui_each_watched_live_and_reported_apart(ui_url) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url, reports, stop, log_path = ui_url
    elsewhere: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("request", lambda r: elsewhere.append(r.url)
                    if urllib.parse.urlsplit(r.url).hostname not in ("127.0.0.1", None) else None)  # fmt: skip
            page.goto(url + "/")

            # the form: the picker in sight without opening anything, users and ramp-up from the scenario
            choice = page.locator("select[name='harnessScenario']")
            choice.wait_for(state="visible", timeout=15000)
            offered = choice.locator("option").all_inner_texts()
            assert offered[0].startswith("ui-short: baseline 4s 3u")
            (other,) = [o for o in offered if o.startswith("ui-other: calm 4s 4u")]
            assert "throttled 4s 4u [http_error token]" in other
            assert any(o.startswith("baseline:") for o in offered)  # scenarios/baseline.yaml runs here too
            users, ramp = page.locator("input[name='userCount']"), page.locator("input[name='spawnRate']")
            assert (users.input_value(), ramp.input_value()) == ("3", "3")
            choice.select_option(value=other)
            wait_for(page, "document.querySelector(\"input[name='userCount']\").value === '4'", 5, "4 users")
            assert ramp.input_value() == "2"
            page.get_by_role("button", name="Start").click()

            # the Resilience tab: the coloured SLO table on top, live charts with the fault window shaded
            page.get_by_role("tab", name="Resilience").click()
            wait_for(page, "document.querySelector('#harness-slos .harness-slo-state')", 20, "the SLO table")
            wait_for(page, "document.querySelector('#harness-chart-availability rect.harness-fault')", 20,
                     "the fault window on the live chart")  # fmt: skip
            line = page.locator("#harness-chart-availability path.harness-line").first.get_attribute("d")
            assert line and line.count("L") >= 3  # a line of several seconds
            colour = page.evaluate("getComputedStyle(document.querySelector('.harness-slo-state')).color")
            assert colour in ("rgb(20, 99, 45)", "rgb(138, 20, 20)", "rgb(122, 82, 0)", "rgb(102, 102, 102)")
            assert "throttled-ops" in page.locator("#harness-slos").inner_text()

            # Locust's own charts: the fault window drawn over them while it is on
            page.get_by_role("tab", name="Charts").click()
            wait_for(page, "document.querySelectorAll(\".harness-fault-mark[data-fault='throttled.0']\").length >= 3",
                     15, "the fault on Locust's three charts")  # fmt: skip

            # the end of the test: its verdict and its report, in the tab
            page.get_by_role("tab", name="Resilience").click()
            verdict = wait_for(page, "(document.querySelector('#harness-verdict') || {}).innerText", 40,
                               "the verdict")  # fmt: skip
            assert "ended: PASS" in verdict and "report.html" in verdict
            first_run = json.loads(page.request.get(url + "/resilience/live").text())["run_id"]
            report = page.request.get(url + "/resilience/report?run=" + first_run)
            assert report.status == 200 and "throttled-ops" in report.text()
            states = page.locator(".harness-slo-state").all_inner_texts()
            assert states == ["pass"]  # the report's verdict, not a live guess

            # a second test, of the session's own scenario: a run directory of its own
            page.get_by_role("button", name="New").click()
            choice.wait_for(state="visible", timeout=15000)
            choice.select_option(value=offered[0])
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="Resilience").click()
            wait_for(page, "((document.querySelector('#harness-now') || {}).innerText || '').includes('(ui-short)')",
                     20, "the second test")  # fmt: skip
            verdict = wait_for(page, "(document.querySelector('#harness-verdict') || {}).innerText", 40,
                               "the second verdict")  # fmt: skip
            assert "ui-short" in verdict and "ended: PASS" in verdict
        finally:
            browser.close()
    assert elsewhere == [], f"the page fetched from elsewhere: {elsewhere}"
    assert stop() == 0

    runs = sorted(p for p in reports.iterdir() if p.is_dir() and (p / "journal.json").exists())
    assert [json.loads((r / "summary.json").read_text())["scenario"]["name"] for r in runs] == ["ui-other", "ui-short"]
    for run, phase in zip(runs, ("throttled", "brownout"), strict=True):
        summary = json.loads((run / "summary.json").read_text())
        assert (summary["status"], summary["exit_code"], summary["verdict"]) == ("completed", 0, "pass")
        assert [f["phase"] for f in summary["faults"]] == [phase]  # only its own test's fault
        assert len(summary["phase_order"]) == 3 and all(p["operations"] > 0 for p in summary["phases"].values())
        assert (run / "report.html").exists() and (run / "junit.xml").exists()
        for kind in ("attempts", "operations"):  # each test's records compacted at its end, in its own directory
            assert read_manifest(run / "records", kind) is not None and not shard_paths(run / "records", kind)
        assert build_summary(run) == summary  # `harness report` on the compacted test reads the same
    (session,) = [p for p in reports.iterdir() if p.name.endswith("-ui")]
    assert not (session / "journal.json").exists()  # the session's directory is not a run: not on the index
    terminal = log_path.read_text()
    for run in runs:
        assert f"report: {run}/report.html" in terminal or f"report: {run.resolve()}/report.html" in terminal
    assert terminal.count("harness: verdict PASS") == 2
