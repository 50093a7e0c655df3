"""CLI habits: `harness --version`, and no traceback when the reader of a pipe goes away."""

from __future__ import annotations

import os
import subprocess
from importlib import metadata

from harness.cli import main
from tests.helpers import harness_argv


def test_version(capsys) -> None:
    try:
        main(["--version"])
    except SystemExit as done:
        assert done.code == 0
    assert capsys.readouterr().out.strip() == f"harness {metadata.version('sso-resilience-harness')}"


def test_a_closed_pipe_is_no_traceback() -> None:
    """`harness scenarios | head -1`: the reader is gone before the listing is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, as after `head` has exited
    try:
        done = subprocess.run(harness_argv("scenarios"), stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
    assert done.returncode == 0


def test_the_license_file_is_the_one_pyproject_names() -> None:
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    declared = tomllib.loads((root / "pyproject.toml").read_text())["project"]["license"]
    assert declared == {"text": "Apache-2.0"}
    text = (root / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
