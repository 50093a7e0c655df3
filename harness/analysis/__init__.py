"""Records -> reductions (out of core) -> metrics, SLO verdicts, recovery times, statistics, and the run summary.

The names below load their module on first use: importing one light module of this package (`metrics`,
say, which the figure-drawing process needs) must not import DuckDB and the scenario models with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "FaultWindow": "frames",
    "PhaseWindow": "frames",
    "Run": "frames",
    "load_run": "frames",
    "SloResult": "slo",
    "evaluate_slo": "slo",
    "evaluate_slos": "slo",
    "build_summary": "summary",
    "summarize": "summary",
    "write_summary": "summary",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
