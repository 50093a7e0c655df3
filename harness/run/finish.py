"""The end of a run, after its rollback: scan for secrets, judge the SLOs, settle the journal and write the
report, in an order that makes every file agree with the exit code from its first write.

1. The journal already holds how the run ended (completed, aborted, interrupted, crashed). The load has
   flushed and exited, so its shards are compacted into a few time-sorted files per kind
   (`analysis.compact`, the same for a web UI test's own run directory); a compaction that fails leaves the
   shards, which read the same, and is only reported.
2. The secret scan runs over everything the report is made from (records, logs, journal, scenario); a leak
   makes the run crashed with exit 4 before anything is judged.
3. The analysis judges the SLOs; `analysis.summary.outcome` turns status and verdict into the exit code
   (defined there once). The journal takes that status and exit code *before* summary.json, report.html
   and junit.xml are written, so `harness report` later rebuilds exactly the same summary.
4. The report files are scanned too (the last line of defence); a leak there, which would have to come
   from a bug, makes the run crashed and the report is built again to say so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import EXIT_INFRA
from harness.report.build import REPORT_FILE, ReportResult, build_report
from harness.run.journal import Journal
from harness.run.secrets import scan_run_dir

REPORT_OUTPUTS = (REPORT_FILE, "summary.json", "junit.xml")


@dataclass(frozen=True)
class Finished:
    exit_code: int
    report: ReportResult | None


def finish(run_dir: Path, journal: Journal, secret_values: list[str], status: str, exit_code: int) -> Finished:
    """Judge and report a run whose journal was closed with `status`; `exit_code` is the run's own for an
    abnormal end (ignored for "completed": the SLOs decide). Returns what the process exits with."""
    journal.status, journal.exit_code = status, None if status == "completed" else exit_code
    _compact(run_dir)
    leaks = scan_run_dir(run_dir, secret_values)
    if leaks:
        _leaked(journal, [str(leak) for leak in leaks])
    journal.write()

    def settle(summary: dict[str, Any]) -> None:
        journal.status, journal.exit_code = summary["status"], summary["exit_code"]
        journal.write()

    try:
        result = build_report(run_dir, on_summary=settle)
    except Exception as exc:  # the run happened; without a report it did not pass
        print(f"harness: the report could not be built: {type(exc).__name__}: {exc}", file=sys.stderr)
        journal.errors.append(f"report failed: {type(exc).__name__}: {exc}")
        journal.status, journal.exit_code = "crashed", exit_code if status != "completed" else EXIT_INFRA
        journal.write()
        return Finished(journal.exit_code, None)
    late = [leak for leak in scan_run_dir(run_dir, secret_values) if leak.path in REPORT_OUTPUTS]
    if late:
        _leaked(journal, [str(leak) for leak in late])
        journal.write()
        result = build_report(run_dir)
    return Finished(result.exit_code, result)


def _compact(run_dir: Path) -> None:
    from harness.analysis.compact import compact

    try:
        compact(run_dir)
    except Exception as exc:  # the shards stay, and every reader reads them as well
        print(f"harness: the records were not compacted ({type(exc).__name__}: {exc}); the report reads the "
              "shards", file=sys.stderr)  # fmt: skip


def _leaked(journal: Journal, leaks: list[str]) -> None:
    for leak in leaks:
        print(f"harness: SECRET LEAK in the run directory: {leak}", file=sys.stderr)
    journal.errors.append(f"secret scan failed: {', '.join(leaks)}")
    journal.status, journal.exit_code = "crashed", EXIT_INFRA
