"""`harness ui` after its services are up: follows the session log (`session.jsonl`, written by the Locust
master, harness.load.uitests) and treats each test of the web UI as a run of its own, in its own run
directory: a journal, live figures (console and the Resilience tab's `live.json`, harness.run.live), the
stop conditions, and when the test ends a check that no fault is left, then its verdict and report
(harness.run.finish), printed in the terminal and shown in the tab. Two tests never share a directory, a
report or a journal.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from harness.contract import SESSION_LOG
from harness.errors import EXIT_ABORTED
from harness.run.console import Console, Progress, verdict_line
from harness.run.coverage import worker_coverage
from harness.run.finish import finish
from harness.run.journal import Journal, read_jsonl, scenario_entry
from harness.run.live import LiveView
from harness.run.loadgen import Load
from harness.run.rollback import PROXY_COUNTERS, Rollback
from harness.run.signals import Interrupted, raise_if_received
from harness.run.stack import Stack
from harness.run.uichoices import UiChoices
from harness.run.watch import first_trigger
from harness.scenario import Scenario, load_scenario

TICK_S = 0.5
DRAIN_S = 20.0  # after Ctrl-C: how long to wait for the last test's records and its test_ended


@dataclass
class UiTest:
    run_dir: Path
    scenario: Scenario
    journal: Journal
    live: LiveView
    progress: Progress
    next_line: float
    status: str = "completed"
    exit_code: int = 0


@dataclass
class UiSession:
    session_dir: Path
    stack: Stack
    ui: UiChoices
    console: Console
    web_url: str
    session_journal: Journal
    duration_scale: float = 1.0
    signals: list[str] = field(default_factory=list)
    seen: int = 0
    active: UiTest | None = None
    exit_codes: list[int] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The worst of the tests' exit codes (0 when no test ran): 1 when an SLO of any test failed."""
        return max(self.exit_codes, default=0)

    def serve(self, load: Load) -> None:
        """Until Ctrl-C (a normal end: the running test, if any, stops and is reported) or Locust exits."""
        try:
            while load.master.alive():
                raise_if_received(self.signals)
                load.master.wait(TICK_S)
                self.tick()
        except Interrupted as exc:
            self.signals.clear()
            self.session_journal.event("ui_closed", f"{exc} ended the web UI session")
            print("\nharness: closing the web UI: stopping Locust, then the last test's report", file=sys.stderr)
            load.quit_ui(self.session_journal)
        deadline = time.monotonic() + DRAIN_S
        while self.active is not None and time.monotonic() < deadline:
            self.tick()
            if self.active is not None:
                time.sleep(TICK_S)
        if self.active is not None:  # Locust never said the test ended: its records may be short
            self._end("interrupted", EXIT_ABORTED)

    def tick(self) -> None:
        events = read_jsonl(self.session_dir / SESSION_LOG)
        for event in events[self.seen :]:
            if event.get("kind") == "test_started":
                if self.active is not None:
                    self._end("interrupted", EXIT_ABORTED)
                self._begin(str(event["run_id"]))
            elif event.get("kind") == "test_ended" and self.active is not None:
                self._watch(self.active)
                self._end(self.active.status, self.active.exit_code)
        self.seen = len(events)
        self.stack.check()
        if self.active is not None:
            self._watch(self.active)

    # --- one test ---------------------------------------------------------------------------------

    def _begin(self, run_id: str) -> None:
        run_dir = self.session_dir.parent / run_id
        scenario = load_scenario(run_dir / "scenario.yaml")
        source = self.ui.sources.get(scenario.name, self.ui.source)
        journal = Journal(run_dir / "journal.json", run_id, scenario_entry(scenario, source, self.duration_scale))
        journal.services = dict(self.session_journal.services)
        journal.steady_state["before"] = self.stack.probe()
        journal.event("test_started", f"started in the web UI ({self.web_url}), session {self.session_dir.name}")
        horizon = max((c.window_s for c in scenario.stop_conditions), default=1.0)
        self.console.started(run_id, scenario.name, scenario.duration_s, run_dir, self.duration_scale)
        self.active = UiTest(run_dir, scenario, journal, LiveView(run_dir, scenario, horizon_s=horizon),
                             Progress(run_dir / "timeline.jsonl", self.console),
                             time.monotonic() + self.console.interval_s)  # fmt: skip

    def _watch(self, test: UiTest) -> None:
        test.progress.print_new()
        test.journal.fold(read_jsonl(test.run_dir / "timeline.jsonl"))
        test.journal.write()
        now, state = time.time(), test.journal.to_dict()
        test.live.poll()
        if test.status == "completed" and test.scenario.stop_conditions:
            trigger = first_trigger(test.scenario.stop_conditions, test.live.records, now)
            if trigger is not None:
                test.status, test.exit_code = "aborted", EXIT_ABORTED
                test.journal.stop_condition = trigger.record()
                test.journal.event("stop_condition", trigger.describe())
                print(f"harness: {trigger.describe()}: stopping the test", file=sys.stderr)
                self._stop_test()
        if time.monotonic() >= test.next_line:
            test.next_line += self.console.interval_s
            self.console.progress(test.live.latest(state, now), test.live.judge_slos(state, now))
        test.live.write(state, now)

    def _end(self, status: str, exit_code: int) -> None:
        test, self.active = self.active, None
        assert test is not None
        self._no_fault_left(test)
        test.journal.steady_state["after"] = self.stack.probe()
        timeline = read_jsonl(test.run_dir / "timeline.jsonl")
        test.journal.workers = worker_coverage(timeline, test.run_dir / "records", time.time())
        test.journal.close(status, timeline)
        done = finish(test.run_dir, test.journal, self.stack.secret_values, status, exit_code)
        self.exit_codes.append(done.exit_code)
        ended: dict[str, Any] = {"status": test.journal.status, "exit_code": done.exit_code}
        if done.report is not None:
            summary = done.report.summary
            self.console.finished(summary, done.report.report_html)
            ended |= {"verdict": summary["verdict"], "report": str(done.report.report_html.resolve()),
                      "text": verdict_line(summary, done.report.report_html)}  # fmt: skip
            test.live.slos = [slo | {"state": slo["verdict"]} for slo in summary["slos"]]  # the report's own
        test.live.write(test.journal.to_dict(), time.time(), {"ended": ended})

    def _no_fault_left(self, test: UiTest) -> None:
        """The end of a test is a rollback without stopping anything: the timeline removed its faults; undo
        what the orchestrator applied (process, network, target chaos) and check the proxy holds none."""
        Rollback(test.journal, test.run_dir, host=self.stack.chaos, target_chaos=self.stack.target_chaos).run()
        proxy = self.stack.proxy
        if proxy is None:
            return
        try:
            (test.run_dir / PROXY_COUNTERS).write_text(proxy.api.metrics(), encoding="utf-8")
            left = [t["name"] for t in (proxy.api.get_proxies().get(proxy.name) or {}).get("toxics", [])]
            for name in left:
                proxy.api.remove_toxic(proxy.name, name)
            detail = f"removed toxics left on the proxy: {left}" if left else "no toxic remains on the proxy"
            test.journal.rollback_step("remove faults", not left, detail)
        except Exception as exc:
            test.journal.rollback_step("remove faults", False, f"{type(exc).__name__}: {exc}")

    def _stop_test(self) -> None:
        """A stop condition fired: stop the test as the web UI's Stop button does."""
        try:
            requests.post(f"{self.web_url}/stop", timeout=5)
        except requests.RequestException as exc:
            print(f"harness: could not stop the test through the web UI: {exc}", file=sys.stderr)
