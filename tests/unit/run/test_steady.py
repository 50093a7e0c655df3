"""The steady state (harness/run/steady.py): a probe's check is bounded and never raises into the run; the
checks before and after fold the stack's own check and the probes into one verdict; a stop condition on a
probe fires after `failures` failed checks in a row, and a success in between starts the count again."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from harness.probes import ProbeContext, ProbeModel, ProbeResult
from harness.run.steady import SteadyState, run_probe
from harness.scenario import load_scenario_text
from tests.plugin_support import registry_with

SCENARIO = """
name: steady
proxy: {kind: none}
flows: [{flow: client_credentials}]
phases: [{name: only, duration_s: 5}]
probes:
  - {name: flag, type: testplugin_flag_absent, path: FLAG, every_s: 1}
  - {name: later, type: testplugin_flag_absent, path: /nonexistent/flag, before: false}
stop_conditions:
  - {probe: flag, failures: 2}
"""


class Raises(ProbeModel):
    type: Literal["raises"]

    def check(self, ctx: ProbeContext) -> ProbeResult:
        raise ConnectionError("the SDK gave up")


class Hangs(ProbeModel):
    type: Literal["hangs"]
    release: ClassVar[threading.Event] = threading.Event()

    def check(self, ctx: ProbeContext) -> ProbeResult:
        self.release.wait(10)
        return ProbeResult(True, "late")


class Wrong(ProbeModel):
    type: Literal["wrong"]

    def check(self, ctx: ProbeContext) -> Any:
        return True


def test_a_check_that_raises_overruns_or_answers_nonsense_is_a_failed_check() -> None:
    ctx = ProbeContext()
    assert run_probe(Raises(type="raises", name="a"), ctx) == ProbeResult(False, "the probe raised ConnectionError: "
                                                                                  "the SDK gave up")  # fmt: skip
    try:
        hung = run_probe(Hangs(type="hangs", name="b", timeout_s=0.01), ctx)
    finally:
        Hangs.release.set()
    assert hung == ProbeResult(False, "no answer within 0.01 s")
    assert run_probe(Wrong(type="wrong", name="c"), ctx).detail == "the probe returned bool, not a ProbeResult"


def steady(tmp_path: Path, events: list[dict[str, Any]]) -> SteadyState:
    scenario = load_scenario_text(SCENARIO.replace("FLAG", str(tmp_path / "flag")), "steady.yaml")
    (tmp_path / "logs").mkdir(exist_ok=True)
    builtin = {"ok": True, "detail": "5/5 token requests succeeded"}
    return SteadyState(scenario, tmp_path, lambda event: events.append(dict(event)), lambda: builtin)


def test_before_and_after_fold_the_stacks_check_and_the_probes(tmp_path: Path) -> None:
    with registry_with():
        state = steady(tmp_path, [])
        before = state.check("before")
        assert before["ok"] and [p["name"] for p in before["probes"]] == ["flag"]  # `later` runs after only
        (tmp_path / "flag").write_text("on")
        after = state.check("after")
        assert not after["ok"] and [p["ok"] for p in after["probes"]] == [False, True]
        assert after["detail"] == (f"5/5 token requests succeeded; probe flag: {tmp_path / 'flag'} exists: "
                                   "the application is in maintenance")  # fmt: skip


def test_a_probe_stop_condition_needs_failures_in_a_row(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    with registry_with():
        state = steady(tmp_path, events)
        probe = state.scenario.probes[0]
        state.record(probe, ProbeResult(False, "down"))
        state.record(probe, ProbeResult(True, "up"))
        state.record(probe, ProbeResult(False, "down again"))
        assert state.trigger(1.0) is None  # a success between the failures
        state.record(probe, ProbeResult(False, "still down"))
        fired = state.trigger(2.0)
    assert fired is not None and fired.failures == 2
    assert fired.describe() == "stop condition probe flag failed 2 times in a row: probe flag failed: still down"
    assert fired.record()["probe"] == "flag"
    assert [(e["kind"], e["probe"], e["ok"]) for e in events] == [
        ("probe", "flag", ok) for ok in (False, True, False, False)
    ]
