"""Time to detect and time to recover of every fault of a run, against the run's baseline phase.

The per-window arithmetic and the tolerances live in `metrics`; this module only decides which phase is
the baseline and which window each fault's recovery is watched in (`recovery_window`): from the fault's
removal until the next fault takes effect or the phase after its own ends, whichever comes first (and
never past the end of the data). A recovery cut short by the next fault is not measurable, rather than
the next fault's effect counted as this one's.
"""

from __future__ import annotations

from tests.reference.inmemory.frames import FaultWindow, Run
from tests.reference.inmemory.metrics import Baseline, Recovery, recovery, window_health

BASELINE_PHASE = "baseline"


def baseline_phase(run: Run) -> str | None:
    """The phase named "baseline", else the first phase without faults."""
    names = [p.name for p in run.phases]
    if BASELINE_PHASE in names:
        return BASELINE_PHASE
    return next((p.name for p in run.phases if not p.faults), None)


def baseline(run: Run) -> Baseline | None:
    name = baseline_phase(run)
    if name is None:
        return None
    ops = run.step_operations
    return Baseline.of(ops[ops["phase"] == name])


def horizon_end(run: Run, fault: FaultWindow) -> float:
    """How long to watch after a fault: the end of the phase after its own, or the end of the data."""
    names = [p.name for p in run.phases]
    end = run.data_end
    if fault.phase in names:
        later = [p for p in run.phases[names.index(fault.phase) + 1 :] if p.end is not None]
        if later and later[0].end is not None:
            end = min(end, later[0].end)
    return end


def next_fault(run: Run, fault: FaultWindow) -> FaultWindow | None:
    """The first other fault that takes effect at or after this one's removal (faults of the same phase,
    applied together, are not "next")."""
    later = [f for f in run.faults if f.id != fault.id and f.start >= fault.end - 1e-6]
    return min(later, key=lambda f: f.start, default=None)


def recovery_window(run: Run, fault: FaultWindow) -> tuple[float, float, str]:
    """(from, until, why it ends there): where the fault's recovery is watched."""
    until, why = horizon_end(run, fault), "the end of the next phase or of the data"
    following = next_fault(run, fault)
    if following is not None and following.start < until:
        gap = max(0.0, following.start - fault.end)
        until, why = following.start, f"the next fault, {following.id}, took effect {gap:.1f} s after its removal"
    return fault.end, max(fault.end, until), why


def fault_recoveries(run: Run) -> dict[str, Recovery]:
    """Recovery of each fault, by fault id (all None inside when there is no baseline to compare with)."""
    reference = baseline(run)
    health = None if reference is None else window_health(run.step_operations, run.t0, reference)
    found = {}
    for f in run.faults:
        _, until, why = recovery_window(run, f)
        found[f.id] = recovery(health, run.t0, f.start, f.end, until, why)
    return found
