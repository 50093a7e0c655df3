from pathlib import Path

import pytest

from harness.report.build import ReportResult, build_report
from tests.unit.analysis.synthetic import write_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A fresh synthetic run a test may change."""
    return write_run(tmp_path)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> ReportResult:
    """The report of the synthetic run, built once: tests only read it (rendering takes a second or two)."""
    return build_report(write_run(tmp_path_factory.mktemp("built")))
