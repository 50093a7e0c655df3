"""The steady state, probed: the stack's own check (token requests along the clients' path) and the
scenario's probes (harness.probes), before the load, after it, and every `every_s` during it; and the stop
conditions that name a probe, judged on its checks during the load.

Probes run in the orchestrator, each check in a thread of its own bounded by its `timeout_s` (a check that
overruns fails), so that a hung endpoint can neither stall the watch loop nor outlive the run. Every
check during the load is a `probe` event in the timeline (timeline.jsonl), hence in the journal.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.contract import HostEvent
from harness.probes import ProbeContext, ProbeModel, ProbeResult
from harness.scenario.model import ExternalTarget, Scenario, StopCondition

When = Literal["before", "after"]
OVERRUN_GRACE_S = 1.0


def run_probe(probe: ProbeModel, ctx: ProbeContext) -> ProbeResult:
    """One check, bounded by the probe's timeout; an exception or an overrun is a failed check."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = probe.check(ctx)
        except Exception as exc:  # a probe's code (maybe a plugin's): its failure is a failed check
            box["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=target, name=f"probe-{probe.name}", daemon=True)
    thread.start()
    thread.join(probe.timeout_s + OVERRUN_GRACE_S)
    if thread.is_alive():
        return ProbeResult(False, f"no answer within {probe.timeout_s:g} s")
    if "error" in box:
        return ProbeResult(False, f"the probe raised {box['error']}")
    result = box.get("result")
    if not isinstance(result, ProbeResult):
        return ProbeResult(False, f"the probe returned {type(result).__name__}, not a ProbeResult")
    return result


@dataclass(frozen=True)
class ProbeTrigger:
    """A stop condition on a probe that fired: its last failed checks."""

    condition: StopCondition
    detail: str
    failures: int
    at: float

    def describe(self) -> str:
        return f"stop condition {self.condition.label}: {self.detail}"

    def record(self) -> dict[str, Any]:
        """The journal's `stop_condition`."""
        return {"condition": self.condition.label, "probe": self.condition.probe, "failures": self.failures,
                "detail": self.detail, "at": self.at}  # fmt: skip


class SteadyState:
    def __init__(self, scenario: Scenario, run_dir: Path, emit: Callable[[HostEvent], None],
                 builtin: Callable[[], dict[str, Any]]):  # fmt: skip
        self.scenario, self.emit, self.builtin = scenario, emit, builtin
        allow = scenario.target.allow if isinstance(scenario.target, ExternalTarget) else ()
        self._logs = run_dir / "logs"
        self._allow = tuple(allow)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._failing: dict[str, tuple[int, str]] = {}  # probe name -> (failed checks in a row, last detail)

    def context(self, probe: ProbeModel) -> ProbeContext:
        log_path = self._logs / f"probe-{probe.name}.log"

        def log(line: str) -> None:
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%H:%M:%S')} {line}\n")

        return ProbeContext(self._allow, dict(os.environ), probe.timeout_s, log)

    def check(self, when: When) -> dict[str, Any]:
        """The stack's own check and every probe that runs `when`: `{ts, ok, detail, probes: [...]}`, ok
        when all held (None when nothing was probed)."""
        state = dict(self.builtin())
        results = []
        for probe in self.scenario.probes:
            if getattr(probe, when):
                result = run_probe(probe, self.context(probe))
                results.append({"name": probe.name, "type": probe.type, "ts": time.time(), **result.as_dict()})
        if results:
            failed = [r for r in results if not r["ok"]]
            parts = [state["detail"]] if state.get("ok") is not None else []
            parts += [f"probe {r['name']}: {r['detail']}" for r in (failed or results)]
            oks = [state["ok"]] if state.get("ok") is not None else []
            state |= {"ok": all(oks) and not failed, "detail": "; ".join(parts), "probes": results,
                      "ts": time.time()}  # fmt: skip
        return state

    # --- during the load --------------------------------------------------------------------------

    def start(self) -> None:
        """One thread per probe with `every_s`, checking until `stop()`."""
        for probe in self.scenario.probes:
            if probe.every_s is not None:
                thread = threading.Thread(target=self._every, args=(probe,), name=f"steady-{probe.name}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _every(self, probe: ProbeModel) -> None:
        assert probe.every_s is not None
        while not self._stop.is_set():
            started = time.monotonic()
            self.record(probe, run_probe(probe, self.context(probe)))
            self._stop.wait(max(0.0, probe.every_s - (time.monotonic() - started)))

    def record(self, probe: ProbeModel, result: ProbeResult) -> None:
        """One check during the load: a timeline event, and the probe's count of failures in a row."""
        with self._lock:
            count = self._failing.get(probe.name, (0, ""))[0]
            self._failing[probe.name] = (0 if result.ok else count + 1, result.detail)
        self.emit({"kind": "probe", "ts": time.time(), "probe": probe.name, "type": probe.type,
                   **result.as_dict()})  # fmt: skip

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1.0)  # a check under way finishes on its own (bounded by its timeout)

    def trigger(self, now: float) -> ProbeTrigger | None:
        """The first stop condition on a probe whose last `failures` checks all failed."""
        with self._lock:
            failing = dict(self._failing)
        for condition in self.scenario.stop_conditions:
            if condition.probe is None:
                continue
            count, detail = failing.get(condition.probe, (0, ""))
            if count >= condition.failures:
                return ProbeTrigger(condition, f"probe {condition.probe} failed: {detail}", count, now)
        return None
