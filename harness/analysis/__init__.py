"""Records -> frames -> metrics, SLO verdicts, recovery times, statistics, and the run summary."""

from harness.analysis.frames import FaultWindow, PhaseWindow, Run, load_run
from harness.analysis.slo import SloResult, evaluate_slo, evaluate_slos
from harness.analysis.summary import build_summary, summarize, write_summary

__all__ = [
    "FaultWindow",
    "PhaseWindow",
    "Run",
    "SloResult",
    "build_summary",
    "evaluate_slo",
    "evaluate_slos",
    "load_run",
    "summarize",
    "write_summary",
]
