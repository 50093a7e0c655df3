"""The tests of a web UI session (`harness ui`): each Start in the form is a test of its own, written to a
run directory of its own beside the session's directory (records, timeline, scenario.yaml), announced in
the session log (`session.jsonl`: test_started, then test_ended once every load process has written its
records), which the orchestrator follows to judge and report each test apart. A session's report never
merges two tests.

Also what the start form shows of each offered scenario (users and ramp-up), and the current test's
live figures for the Resilience tab (its `live.json`, written by the orchestrator).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.contract import SESSION_LOG, Runtime, UiTestEnded, UiTestStarted
from harness.load.shape import stages
from harness.load.timeline import JsonLines
from harness.scenario import Scenario, load_scenario

LIVE_FILE = "live.json"


def records_dir_of(session_dir: str | Path, run_id: str) -> str:
    """Where a test's records go, for any load process of the session (the master tells workers run_id)."""
    return str(Path(session_dir).resolve().parent / run_id / "records")


class UiTests:
    def __init__(self, session_dir: str | Path, clock: Callable[[], float] = time.time):
        self.session_dir = Path(session_dir).resolve()
        self.out = self.session_dir.parent
        self.clock = clock
        self.log = JsonLines(self.session_dir / SESSION_LOG)
        self.current: Path | None = None
        self.ended = True
        self.runs: dict[str, Path] = {}

    def begin(self, scenario: Scenario, scenario_file: str | Path) -> Path:
        """A new test of `scenario`: its run directory with records/ and the resolved scenario.yaml."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        run_id = f"{stamp}-{scenario.name}"
        for n in range(2, 1000):  # two tests in one second get their own directories
            if not (self.out / run_id).exists():
                break
            run_id = f"{stamp}-{scenario.name}-{n}"
        run_dir = self.out / run_id
        (run_dir / "records").mkdir(parents=True)
        (run_dir / "scenario.yaml").write_text(Path(scenario_file).read_text(encoding="utf-8"), encoding="utf-8")
        self.current, self.ended, self.runs[run_id] = run_dir, False, run_dir
        started: UiTestStarted = {"kind": "test_started", "ts": self.clock(), "run_id": run_id,
                                  "scenario": scenario.name}  # fmt: skip
        self.log(started)
        return run_dir

    def end(self) -> None:
        """The current test's records are all written (called once per test, after the last flush)."""
        if self.current is None or self.ended:
            return
        self.ended = True
        ended: UiTestEnded = {"kind": "test_ended", "ts": self.clock(), "run_id": self.current.name}
        self.log(ended)

    def by_id(self, run_id: str) -> Path | None:
        return self.runs.get(run_id)

    def live(self) -> dict[str, Any] | None:
        """The current (or last) test's live.json, or None before the first figures."""
        if self.current is None:
            return None
        try:
            value = json.loads((self.current / LIVE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"run_id": self.current.name, "display": {}, "latest": {}}
        return value if isinstance(value, dict) else None


def form_choices(runtime: Runtime) -> list[dict[str, Any]]:
    """Each offered scenario as the start form shows it: its plan (the picker's value), its peak users and
    the ramp-up of its first phase (the form's users and ramp-up fields)."""
    out = []
    for choice in runtime.choices:
        try:
            scenario = load_scenario(choice.file)
        except Exception:  # a choice file that went away: offer it without numbers
            out.append({"name": choice.name, "plan": choice.plan, "users": None, "spawn_rate": None})
            continue
        out.append({"name": choice.name, "plan": choice.plan, **peak_load(scenario)})
    return out


def peak_load(scenario: Scenario) -> dict[str, Any]:
    shape = stages(scenario)
    return {"users": max(s.users for s in shape), "spawn_rate": shape[0].spawn_rate}
