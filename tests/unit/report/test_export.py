"""CSV beside Parquet: series.csv (per second) and phases.csv (per phase), with the summary's numbers."""

from __future__ import annotations

import csv

from harness.report.build import build_report
from tests.unit.analysis.synthetic import write_run


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_series_and_phases_csv_hold_the_reports_numbers(tmp_path) -> None:
    result = build_report(write_run(tmp_path), index=False)
    series = rows(result.run_dir / "series.csv")
    assert len(series) == 30 and series[0]["second"] == "0" and series[0]["time_utc"] == "2025-11-28T03:20:00Z"
    eleven = series[11]
    assert (eleven["phase"], eleven["operations"], eleven["attempts"]) == ("brownout", "10", "20")
    assert float(eleven["availability_operation"]) == 0.5 and float(eleven["attempts_per_operation"]) == 2.0
    phases = {r["phase"]: r for r in rows(result.run_dir / "phases.csv")}
    summary = result.summary["phases"]
    assert list(phases) == result.summary["phase_order"]
    for name, row in phases.items():
        assert int(row["operations"]) == summary[name]["operations"]
        if summary[name]["availability"]["operation"] is not None:
            assert float(row["availability_operation"]) == summary[name]["availability"]["operation"]
            assert float(row["latency_p99_ms"]) == summary[name]["latency_ms"]["operation"]["p99"]
    assert phases["cooldown"]["availability_operation"] == ""  # nothing measured is empty, never 0
