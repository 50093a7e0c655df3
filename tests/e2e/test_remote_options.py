"""`harness run --dry-run` says where everything listens and whom the master waits for; bad options for a
run across machines are refused with exit 2 before anything starts (no run directory is written)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.contract import Env
from tests.helpers import harness_argv

SCENARIO = "name: opts\nload: {users: 1}\nphases: [{name: p, duration_s: 1}]\n"


def harness(tmp_path: Path, *args: str, secret: bool = True) -> subprocess.CompletedProcess[str]:
    scenario = tmp_path / "opts.yaml"
    scenario.write_text(SCENARIO)
    env = {k: v for k, v in os.environ.items() if k not in (Env.CLIENT_SECRET, Env.CLIENT_ID)}
    if secret:
        env[Env.CLIENT_SECRET] = "s3cret-for-options"
    argv = harness_argv("run", str(scenario), "--out", str(tmp_path / "out"), *args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def test_dry_run_shows_the_listen_address_and_the_workers(tmp_path: Path) -> None:
    done = harness(tmp_path, "--dry-run", "--listen", "127.0.0.1", "--master-bind", "127.0.0.1:5999",
                   "--expect-workers", "3", "--workers", "1", "--workers-timeout", "45")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "target: embedded (started on 127.0.0.1 (--listen)" in done.stdout
    assert "binds 127.0.0.1:5999 and waits up to 45 s for 3 workers (1 started here, 2 remote" in done.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "secret", "message"),
    [
        (("--listen", "192.0.2.7"), True, "--listen 192.0.2.7: not an address of this machine"),
        (("--expect-workers", "1", "--workers", "2"), True, "give at least 2"),
        (("--expect-workers", "2", "--master-bind", "127.0.0.1:5999"), False, f"set {Env.CLIENT_SECRET}"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    tmp_path: Path, args: tuple[str, ...], secret: bool, message: str
) -> None:
    done = harness(tmp_path, *args, secret=secret)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_worker_with_a_bad_node_name_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(harness_argv("worker", "--master", "127.0.0.1:5999", "--node", "a/b"),
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "--node 'a/b'" in done.stderr
