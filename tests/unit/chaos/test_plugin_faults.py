"""Plugin faults (harness/chaos/plugin.py) keep the rollback guarantees of ours: registered as pending
before `apply` runs, unregistered once reverted; an `apply` that raises or overruns is reverted at once;
whatever is applied when the run ends is reverted by `close()`; after a crash, the registration alone is
enough for `harness cleanup` (harness/run/leftovers.py) to revert it, once."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from harness.chaos.plugin import PluginFaults, Where, revert_pending
from harness.faults import FAULT_ADAPTER, FaultContext, PluginFault
from harness.run.leftovers import ActiveRuns, Registration
from tests.plugin_support import registry_with


class Recorded(PluginFault):
    type: Literal["recorded"]
    calls: ClassVar[list[str]] = []
    fail_apply: bool = False

    def apply(self, ctx: FaultContext) -> Mapping[str, Any] | None:
        self.calls.append(f"apply {ctx.name}")
        ctx.log("applying")
        if self.fail_apply:
            raise OSError("the application refused")
        return {"replicas": 0}

    def revert(self, ctx: FaultContext) -> Mapping[str, Any] | None:
        self.calls.append(f"revert {ctx.name}")
        return None


class Stuck(PluginFault):
    type: Literal["stuck"]
    timeout_s: ClassVar[float] = 0.05
    release: ClassVar[threading.Event] = threading.Event()
    reverted: ClassVar[list[str]] = []

    def apply(self, ctx: FaultContext) -> Mapping[str, Any] | None:
        self.release.wait(5)  # never set before the timeout: the apply overruns
        return None

    def revert(self, ctx: FaultContext) -> Mapping[str, Any] | None:
        self.reverted.append(ctx.name)
        return None


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    Recorded.calls.clear()
    Stuck.reverted.clear()


def runner(tmp_path: Path) -> tuple[PluginFaults, list[list[str]]]:
    seen: list[list[str]] = []
    faults = PluginFaults(Where(tmp_path, "http://127.0.0.1:1", "http://127.0.0.1:2"),
                          lambda pending: seen.append([entry["name"] for entry in pending]))  # fmt: skip
    return faults, seen


def test_it_is_pending_before_apply_runs_and_not_once_reverted(tmp_path: Path) -> None:
    faults, seen = runner(tmp_path)
    done = faults.apply("p1-f0", Recorded(type="recorded"))
    assert done["replicas"] == 0 and "duration_s" in done
    assert seen == [["p1-f0"]] and faults.active() == ["p1-f0"]
    faults.remove("p1-f0")
    assert Recorded.calls == ["apply p1-f0", "revert p1-f0"] and seen[-1] == [] and faults.active() == []
    assert "applying" in (tmp_path / "logs" / "fault-p1-f0.log").read_text()


def test_an_apply_that_raises_is_reverted_at_once_and_reported(tmp_path: Path) -> None:
    faults, seen = runner(tmp_path)
    with pytest.raises(RuntimeError, match="apply recorded raised OSError: the application refused"):
        faults.apply("p1-f0", Recorded(type="recorded", fail_apply=True))
    assert Recorded.calls == ["apply p1-f0", "revert p1-f0"] and seen[-1] == [] and faults.active() == []


def test_an_apply_that_overruns_its_timeout_is_reverted(tmp_path: Path) -> None:
    faults, _ = runner(tmp_path)
    try:
        with pytest.raises(RuntimeError, match=r"still running after its timeout of 0\.05 s"):
            faults.apply("p1-f0", Stuck(type="stuck"))
    finally:
        Stuck.release.set()
    assert Stuck.reverted == ["p1-f0"]


def test_close_reverts_what_the_run_left_applied(tmp_path: Path) -> None:
    faults, seen = runner(tmp_path)
    faults.apply("p1-f0", Recorded(type="recorded"))
    faults.apply("p1-f1", Recorded(type="recorded"))
    faults.remove("p1-f0")
    steps = faults.close()
    assert [(what, ok) for what, ok, _ in steps] == [("revert plugin fault p1-f1 (recorded)", True)]
    assert Recorded.calls[-1] == "revert p1-f1" and seen[-1] == [] and faults.close() == []


def test_a_registered_fault_is_reverted_from_its_attributes_in_another_process(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    with registry_with():
        fault = FAULT_ADAPTER.validate_python({"type": "testplugin_flag", "path": str(flag)})
        assert isinstance(fault, PluginFault)
        pending: list[dict[str, Any]] = []
        faults = PluginFaults(Where(tmp_path), lambda now: pending.__setitem__(slice(None), now))
        faults.apply("p1-f0", fault)
        assert flag.exists() and len(pending) == 1
        said = revert_pending(pending[0])  # what `harness cleanup` does with the registration
        assert said == "reverted plugin fault p1-f0 (testplugin_flag)" and not flag.exists()


def test_a_fault_whose_plugin_is_gone_is_reported_not_raised(tmp_path: Path) -> None:
    entry = {"name": "p1-f0", "fault": {"type": "uninstalled_fault"}, "run_dir": str(tmp_path)}
    said = revert_pending(entry)
    assert said.startswith("could not revert plugin fault p1-f0:") and "uninstalled_fault" in said


def test_cleanup_after_a_crash_reverts_the_plugin_fault_once(tmp_path: Path) -> None:
    flag, run_dir = tmp_path / "flag", tmp_path / "r1"
    flag.write_text("maintenance")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    active = ActiveRuns(tmp_path / "registry")
    reg = Registration("r1", str(run_dir), pid=dead.pid, start_ticks=1)
    reg.plugin_faults.append({"name": "p1-f0", "fault": {"type": "testplugin_flag", "path": str(flag)},
                              "run_dir": str(run_dir), "target_url": None, "base_url": None})  # fmt: skip
    active.save(reg)
    with registry_with():
        said = active.clean()
    assert not flag.exists()
    assert any("reverted plugin fault p1-f0 (testplugin_flag)" in line for line in said), said
    assert active.registrations() == []
