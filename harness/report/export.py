"""CSV beside the Parquet records, for spreadsheets and tools that read no Parquet: `series.csv`, one row
per second since the test start, and `phases.csv`, one row per phase. The same numbers as summary.json and
the figures (the `metrics` series functions and the summary's phases), with units in the column names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import metrics
from harness.analysis.frames import Run

SERIES_CSV = "series.csv"
PHASES_CSV = "phases.csv"


def write_csv(run: Run, summary: dict[str, Any], run_dir: Path) -> tuple[Path, Path]:
    series, phases = run_dir / SERIES_CSV, run_dir / PHASES_CSV
    per_second(run).to_csv(series, index=False, float_format="%.6g")
    per_phase(summary).to_csv(phases, index=False, float_format="%.6g")
    return series, phases


def per_second(run: Run) -> pd.DataFrame:
    """Every second from the test start to the last record: counts (0 where nothing happened) and the
    per-second metrics (empty where a second has no record to measure), from the run's per-second tables
    (the figures' own)."""
    ops, att, t0 = run.operations_per_second, run.attempts_per_second, run.t0
    length = max(0, math.ceil(run.data_end - t0)) if run.has_records else 0
    seconds = pd.RangeIndex(length, name="second")
    latency = metrics.latency_series(ops, ("p50", "p95", "p99"))
    table = pd.DataFrame(index=seconds)
    table["time_utc"] = pd.to_datetime(t0 + seconds.to_numpy(dtype=float), unit="s", utc=True).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    table["phase"] = [_phase_at(run, t0 + s) for s in seconds]
    table["operations"] = metrics.count_series(ops, length).reindex(seconds, fill_value=0)
    table["attempts"] = metrics.count_series(att, length).reindex(seconds, fill_value=0)
    table["availability_operation"] = metrics.availability_series(ops).reindex(seconds)
    table["availability_attempt"] = metrics.availability_series(att).reindex(seconds)
    for name in ("p50", "p95", "p99"):
        table[f"latency_{name}_ms"] = latency[name].reindex(seconds) if name in latency else float("nan")
    table["attempts_per_operation"] = metrics.attempts_per_operation_series(ops).reindex(seconds)
    return table.reset_index()


def per_phase(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name in summary.get("phase_order") or []:
        p = summary["phases"][name]
        avail, lat = p["availability"], p["latency_ms"]["operation"]
        low, high = avail.get("operation_interval") or (None, None)
        rows.append({
            "phase": name, "start_utc": _utc(p["start"]), "duration_s": p["duration_s"],
            "operations": p["operations"], "attempts": p["attempts"],
            "availability_operation": avail["operation"], "availability_operation_low": low,
            "availability_operation_high": high, "availability_attempt": avail["attempt"],
            **{f"latency_{q}_ms": lat.get(q) for q in ("p50", "p90", "p95", "p99", "p99.9", "max")},
            "attempts_per_operation": p["attempts_per_operation"], "give_up_rate": p["give_up_rate"],
            "throughput_ops_per_s": p["throughput_ops"], "unauthorized_accepted": p["unauthorized_accepted"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def _phase_at(run: Run, ts: float) -> str:
    for p in run.phases:
        if p.start is not None and p.end is not None and p.start <= ts < p.end:
            return p.name
    return ""


def _utc(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return ""
    return str(pd.Timestamp(ts, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
