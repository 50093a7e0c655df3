"""What the report's figures draw, without drawing it: small frames and marks, computed from a run by
`FigureData.of` and picklable, so that another process can draw them (harness.report.render) while this
one goes on with the analysis. Importing this module does not import matplotlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # the drawing process unpickles this module's values without the analysis (DuckDB, ...)
    from harness.analysis.frames import Run

MAX_STEP_PANELS = 6
STEP_SPARES = 4  # steps past the busiest MAX_STEP_PANELS that may take the place of one drawn as a dot


@dataclass(frozen=True)
class PhaseMark:
    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class FaultMark:
    id: str
    type: str
    label: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Timeline:
    """What every time-axis figure marks, in seconds since the test start `t0`."""

    t0: float
    end_s: float
    phases: tuple[PhaseMark, ...] = ()
    faults: tuple[FaultMark, ...] = ()

    @classmethod
    def of(cls, run: Run) -> Timeline:
        t0 = run.t0
        phases = tuple(
            PhaseMark(p.name, p.start - t0, p.end - t0) for p in run.phases if p.start is not None and p.end is not None
        )
        faults = tuple(FaultMark(f.id, f.type, f.label, f.start - t0, f.end - t0) for f in run.faults)
        ends = [run.data_end - t0, *(p.end_s for p in phases)]
        return cls(t0, max(ends), phases, faults)


@dataclass(frozen=True)
class FigureData:
    """Everything the figures draw, all small: per-second tables (metrics' shape) and CDF points."""

    timeline: Timeline
    operations: pd.DataFrame  # per second, step operations
    attempts: pd.DataFrame  # per second
    steps: Mapping[str, pd.DataFrame]  # per second p50/p95/p99, the busiest steps (journey records as "journey")
    cdfs: Mapping[str, tuple[np.ndarray, np.ndarray]]  # per phase with data: latency (x), share at or below (y)
    phase_names: tuple[str, ...]

    @classmethod
    def of(cls, run: Run) -> FigureData:
        from harness.analysis import per_second
        from harness.analysis.aggregate import Slice

        counts: dict[str, int] = {}
        for (_, _, step), group in run.stats.groups("operation").items():
            if step is not None:
                counts[step] = counts.get(step, 0) + group.count
        # candidates for the panels: the figure leaves out those with latencies in too few seconds
        busiest = sorted(sorted(counts, key=lambda s: (-counts[s], s))[: MAX_STEP_PANELS + STEP_SPARES])
        names = tuple(p.name for p in run.phases)
        cdfs = {name: run.stats.histogram(Slice("operation", (name,), journeys=False)).cdf() for name in names}
        return cls(
            Timeline.of(run),
            run.operations_per_second,
            run.attempts_per_second,
            per_second.step_latency(run.records, busiest, run.t0),
            {name: xy for name, xy in cdfs.items() if xy[0].size},
            names,
        )
