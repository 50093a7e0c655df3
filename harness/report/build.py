"""`harness report RUN_DIR`: summary.json, series.csv and phases.csv, figures/*.png, report.html and
junit.xml from a run directory.

The figures are drawn by a second process (harness.report.render) while this one computes the summary:
the two take about as long for a million records, and the report gets both cores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import EXIT_OK, EXIT_SLO_FAILED
from harness.report.render import FigureWorker

REPORT_FILE = "report.html"
CAPTIONS = {
    "timeline": "Fault timeline: the phases, and when each fault was in effect",
    "latency": "Operation latency p50/p95/p99 per second (step operations)",
    "latency_by_step": "Operation latency p50/p95/p99 per second, one panel per step",
    "availability": "Availability per second at attempt and operation scope",
    "throughput": "Throughput (operations/s) and attempts per operation per second",
    "outcomes": "Outcome mix per second, attempts and operations (stacked)",
    "latency_cdf": "Latency distribution per phase (CDF, log axis)",
}


@dataclass(frozen=True)
class ReportResult:
    run_dir: Path
    summary: dict[str, Any]
    report_html: Path
    junit_xml: Path
    exit_code: int  # the run's exit code as the summary states it (analysis.summary.outcome)


def build_report(
    run_dir: str | Path,
    *,
    index: bool = True,
    on_summary: Callable[[dict[str, Any]], None] | None = None,
    out_dir: str | Path | None = None,
) -> ReportResult:
    """Analyse the run once and write every report file; raise InputError when it is not a run directory.
    With `index`, the parent directory's index.html is rewritten too (the run's place on the front page).
    `on_summary` sees the summary before any file is written (`harness run` settles its journal there, so
    that journal, summary.json and its exit code agree from the first write). `out_dir`: where the report
    files go instead of the run directory (a soak's partial reports, harness.run.soak)."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    worker = FigureWorker()  # first, so that its imports overlap ours, which are therefore made here
    try:
        from harness.analysis.frames import load_run
        from harness.analysis.summary import summarize, write_summary
        from harness.report.export import write_csv
        from harness.report.figure_data import FigureData

        with load_run(run_dir) as run:
            worker.draw(FigureData.of(run), out)
            summary = summarize(run)
            if on_summary is not None:
                on_summary(summary)
            write_summary(summary, out)
            write_csv(run, summary, out)
        paths = worker.paths()
    finally:
        worker.close()
    from harness.report.html import render_report
    from harness.report.index import write_index
    from harness.report.junit import write_junit

    figures = {name: (CAPTIONS.get(name, name), path.read_bytes()) for name, path in paths.items()}
    report = out / REPORT_FILE
    report.write_text(render_report(summary, figures), encoding="utf-8")
    junit = write_junit(summary, out)
    if index:
        write_index(run_dir.resolve().parent)
    exit_code = summary["exit_code"]
    if exit_code is None:  # a run still going: judged on what it has so far
        exit_code = EXIT_OK if summary["slos_held"] else EXIT_SLO_FAILED
    return ReportResult(run_dir, summary, report, junit, exit_code)
