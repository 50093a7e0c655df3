"""Reports of a run: figures, the self-contained HTML page and JUnit XML, all read from the summary."""

from harness.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
