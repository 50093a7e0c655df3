from pathlib import Path

import pytest

from harness.report.build import ReportResult, build_report
from tests.unit.analysis.synthetic import write_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path)


@pytest.fixture
def built(run_dir: Path) -> ReportResult:
    return build_report(run_dir)
