"""The web UI in a real browser: `harness ui` on a short scenario, the test started from Locust's form,
the Resilience tab filling with live numbers, and the brownout's fault appearing and then disappearing.

Headless Chromium from the Debian package, driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

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

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture
def ui_url(tmp_path: Path):
    scenario = tmp_path / "ui-short.yaml"
    scenario.write_text(SCENARIO)
    port = free_port()
    log = open(tmp_path / "harness-ui.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        harness_argv("ui", str(scenario), "--out", str(tmp_path / "reports"), "--web-port", str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/", timeout_s=40, process=process)  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{port}", tmp_path / "reports"
    finally:
        process.send_signal(signal.SIGINT)  # the orchestrator rolls back and writes the report
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def cell_texts(page) -> str:
    return " | ".join(page.locator("table td").all_inner_texts())


def test_start_from_the_form_and_watch_a_fault_come_and_go(ui_url) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url, reports = ui_url
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            form = page.locator("form")
            assert "ui-short: baseline 4s 3u" in form.inner_html()  # the plan, shown before the start
            for field in page.locator("input[name='user_count'], input[name='spawn_rate']").all():
                field.fill("3")
            page.get_by_role("button", name="Start").click()
            page.get_by_role("tab", name="Resilience").click()

            def wait_for(predicate, timeout_s: float) -> str:
                deadline = time.monotonic() + timeout_s
                text = ""
                while time.monotonic() < deadline:
                    text = cell_texts(page)
                    if predicate(text):
                        return text
                    page.wait_for_timeout(250)
                raise AssertionError(f"the Resilience tab never showed it; last: {text}")

            wait_for(lambda t: "client_credentials.token" in t and "availability" in t, 15)
            during = wait_for(lambda t: "brownout.0 (harness-" in t, 15)
            assert "phase | brownout" in during
            after = wait_for(lambda t: "phase | recovery" in t and "active faults | none" in t, 15)
            assert "brownout-ops" in after
        finally:
            browser.close()
    (timeline,) = list(reports.glob("*/timeline.jsonl"))
    events = timeline.read_text()
    assert '"fault_applied"' in events and '"fault_removed"' in events
