"""The web UI in a real browser: `harness ui` on a short scenario, another scenario from the same folder
chosen in Locust's start form and started there, the Resilience tab filling with live numbers, the chosen
scenario's fault appearing and then disappearing, a second Start with another scenario refused with a
message, and the report written for the scenario that ran.

Headless Chromium from the Debian package, driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import json
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
# beside it in the same folder, so the form offers it; same target and proxy, so it may run instead
OTHER = """
name: ui-other
description: a few seconds of calm, then throttling on token
seed: 4
load: {users: 3, spawn_rate: 3, think_time_s: [0.05, 0.1]}
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
    pytest.mark.timeout(120),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture
def ui_url(tmp_path: Path):
    scenario = tmp_path / "ui-short.yaml"
    scenario.write_text(SCENARIO)
    (tmp_path / "ui-other.yaml").write_text(OTHER)
    port = free_port()
    log = open(tmp_path / "harness-ui.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        harness_argv("ui", str(scenario), "--out", str(tmp_path / "reports"), "--web-port", str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def stop() -> int:
        """Ctrl-C, as a user ends `harness ui`: the orchestrator rolls back and writes the report."""
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
        yield f"http://127.0.0.1:{port}", tmp_path / "reports", stop
    finally:
        stop()
        log.close()


def cell_texts(page) -> str:
    return " | ".join(page.locator("table td").all_inner_texts())


def test_choose_a_scenario_in_the_form_and_watch_its_fault_come_and_go(ui_url) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url, reports, stop = ui_url
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url + "/")
            form = page.locator("form")
            choice = form.locator("select[name='harnessScenario']")
            choice.wait_for(state="attached", timeout=15000)
            offered = choice.locator("option").all_inner_texts()
            # the plans, shown before the start: the given scenario first, the one beside it, shipped ones
            assert offered[0].startswith("ui-short: baseline 4s 3u")
            (other,) = [o for o in offered if o.startswith("ui-other: calm 4s 3u")]
            assert "throttled 4s 3u [http_error token]" in other
            assert any(o.startswith("baseline:") for o in offered)  # scenarios/baseline.yaml runs here too
            if not choice.is_visible():
                page.get_by_text("Custom parameters").click()  # the accordion holding custom arguments
            choice.select_option(value=other)
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
            during = wait_for(lambda t: "throttled.0 (harness-" in t, 15)
            assert "phase | throttled" in during
            after = wait_for(lambda t: "phase | after" in t and "active faults | none" in t, 15)
            assert "throttled-ops" in after
            wait_for(lambda t: "state | stopped" in t, 15)

            # one run directory keeps one scenario: another one is refused, with the reason shown
            answer = page.request.post(url + "/swarm", form={"user_count": "3", "spawn_rate": "3",
                                                             "harness_scenario": offered[0]})  # fmt: skip
            refused = answer.json()
            assert refused["success"] is False and "ui-other" in refused["message"]
        finally:
            browser.close()
    assert stop() == 0
    (run_dir,) = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")]
    events = (run_dir / "timeline.jsonl").read_text()
    assert '"scenario_selected"' in events and '"fault_applied"' in events and '"fault_removed"' in events
    assert "name: ui-other" in (run_dir / "scenario.yaml").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["scenario"]["name"] == "ui-other"
    assert {slo["name"] for slo in summary["slos"]} == {"throttled-ops"}
