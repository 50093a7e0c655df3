from pathlib import Path

import pytest

from tests.unit.analysis.synthetic import write_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """The synthetic run of `synthetic.py`, numbers known by hand."""
    return write_run(tmp_path)
