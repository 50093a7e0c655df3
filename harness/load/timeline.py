"""The fault timeline: walks the scenario's phases, applies each phase's faults at its start and removes
them at its end, and writes what it asked for and when it took effect.

Pure logic with an injected clock, sleep and fault applier, so tests drive it without gevent or sockets;
the locustfile runs `run()` in a greenlet and calls `stop()` when the test stops.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.contract import FaultEvent, TimelineEvent
from harness.faults import Fault, FaultApplier
from harness.scenario.model import Phase


class JsonLines:
    """Append-only event log, one JSON object a line, flushed per line so a crash loses nothing."""

    def __init__(self, path: str | Path):
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def __call__(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._file.write(json.dumps(event, sort_keys=True) + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class ActiveFault:
    fault_id: str
    toxic: str
    phase: str


@dataclass
class Timeline:
    phases: tuple[Phase, ...]
    applier: FaultApplier | None
    emit: Callable[[TimelineEvent], None]
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Any] = time.sleep
    run_id: str = "run"
    current_phase: str = ""
    active: list[ActiveFault] = field(default_factory=list)
    stopped: bool = False

    def __post_init__(self) -> None:
        self.current_phase = self.phases[0].name

    def run(self, start: float | None = None) -> None:
        """Walk every phase from `start` (epoch s; default now). Returns when the last phase ends or
        `stop()` was called."""
        t0 = self.clock() if start is None else start
        self.emit({"kind": "timeline_start", "ts": self.clock(), "asked_at": t0})
        offset = 0.0
        for index, phase in enumerate(self.phases):
            asked = t0 + offset
            self._sleep_until(asked)
            if self.stopped:
                return
            self.current_phase = phase.name
            self.emit({"kind": "phase_start", "phase": phase.name, "asked_at": asked, "ts": self.clock()})
            for n, fault in enumerate(phase.faults):
                self._apply(phase, index, n, fault, asked)
            offset += phase.duration_s
            end = t0 + offset
            self._sleep_until(end)
            if self.stopped:
                return
            self.remove_all(asked_at=end)
            self.emit({"kind": "phase_end", "phase": phase.name, "asked_at": end, "ts": self.clock()})
        self.emit({"kind": "timeline_end", "ts": self.clock()})

    def stop(self) -> None:
        """End the timeline now and remove every fault it applied (idempotent)."""
        if not self.stopped:
            self.stopped = True
            self.remove_all(asked_at=self.clock(), reason="stop")
            self.emit({"kind": "timeline_stop", "phase": self.current_phase, "ts": self.clock()})

    def remove_all(self, asked_at: float, reason: Literal["phase_end", "stop"] = "phase_end") -> None:
        while self.active:
            active = self.active.pop()
            event: FaultEvent = {"kind": "fault_removed", "fault_id": active.fault_id, "toxic": active.toxic,
                                 "phase": active.phase, "asked_at": asked_at, "ts": asked_at, "reason": reason}
            try:
                if self.applier is not None:
                    self.applier.remove(active.toxic)
            except Exception as exc:  # keep removing the others; the orchestrator's reset is the net
                event |= {"kind": "fault_error", "action": "remove", "error": f"{type(exc).__name__}: {exc}"}
            event["ts"] = self.clock()
            self.emit(event)

    def _apply(self, phase: Phase, index: int, n: int, fault: Fault, asked: float) -> None:
        fault_id = f"{phase.name}.{n}"
        toxic = f"harness-{self.run_id}-p{index}-f{n}"
        event: FaultEvent = {"kind": "fault_applied", "fault_id": fault_id, "toxic": toxic, "phase": phase.name,
                             "type": fault.type, "spec": fault.model_dump(mode="json", exclude_none=True),
                             "asked_at": asked, "ts": asked}  # fmt: skip
        try:
            if self.applier is None:
                raise RuntimeError("no fault proxy in this run")
            self.applier.apply(fault, toxic)
            self.active.append(ActiveFault(fault_id, toxic, phase.name))
        except Exception as exc:
            event |= {"kind": "fault_error", "action": "apply", "error": f"{type(exc).__name__}: {exc}"}
        event["ts"] = self.clock()
        self.emit(event)

    def _sleep_until(self, when: float) -> None:
        # Sleep in short slices so stop() is noticed promptly even with a long phase ahead.
        while not self.stopped:
            left = when - self.clock()
            if left <= 0:
                return
            self.sleep(min(left, 0.25))


def lateness_ms(events: list[dict[str, Any]]) -> list[float]:
    """How late each fault change took effect (effective minus asked-for time), in milliseconds."""
    return [
        (e["ts"] - e["asked_at"]) * 1000.0
        for e in events
        if e.get("kind") in ("fault_applied", "fault_removed") and "asked_at" in e and "ts" in e
    ]


def p99(values: list[float]) -> float | None:
    """Nearest-rank 99th percentile (raw samples, no interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]
