"""The slow suite's 10-minute soak (issue 20), run in the background of the whole test session.

A 10-minute test run serially would add 10 minutes to `make test`; so tests/conftest.py starts the soak as
soon as collection has selected tests/e2e/test_soak.py (which it also moves to the end of the session),
and the soak goes on at a trickle (two users, a think time of 1-2 s) while the rest of the suite runs.
The test, collected last, scrapes /metrics while the soak is still going and reads the partial reports;
when the suite was shorter than the soak it cuts it short honestly: it waits for the first partial report
only, then interrupts the run (SIGINT, as Ctrl-C) and checks what exists, saying so in its output.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port, harness_argv

SCENARIO = Path(__file__).resolve().parent / "fixtures" / "scenarios" / "e2e" / "soak.yaml"
SOAK_MODULE = "tests/e2e/test_soak.py"
DURATION_S = 600.0  # --duration 10m
PARTIAL_EVERY_S = 120.0  # --partial-every 2m


@dataclass
class BackgroundSoak:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls) -> BackgroundSoak:
        root = Path(tempfile.mkdtemp(prefix="harness-soak-"))
        port = free_port()
        argv = harness_argv("run", str(SCENARIO), "--out", str(root / "reports"), "--duration", "10m",
                            "--partial-every", "2m", "--metrics-port", str(port))  # fmt: skip
        with open(root / "harness.log", "wb") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return cls(root, port, process)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def run_dir(self) -> Path | None:
        dirs = [p for p in (self.root / "reports").glob("*-soak") if p.is_dir()]
        return dirs[0] if dirs else None

    def log(self) -> str:
        return (self.root / "harness.log").read_text(errors="replace")

    def interrupt(self, timeout_s: float = 120.0) -> int:
        """Ctrl-C, as an SRE ending a soak early: the run rolls back, compacts and reports what it has."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        """At the end of the session, whatever happened: our process only, by its PID."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
