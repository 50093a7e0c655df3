"""The slow suite's 10-minute soak (issue 20), run in the background of the whole test session.

A 10-minute test run serially would add 10 minutes to `make test`; so tests/conftest.py starts the soak as
soon as collection has selected tests/e2e/test_soak.py (which it also moves to the end of the session),
and the soak goes on at a trickle (two users, a think time of 1-2 s) while the rest of the suite runs.
The test, collected last, scrapes /metrics while the soak is still going and reads the partial reports;
when the suite was shorter than the soak it cuts it short honestly: it waits for the first partial report
only, then interrupts the run (SIGINT, as Ctrl-C) and checks what exists, saying so in its output.

The process that starts the soak owns it for the session: the pytest process itself, or under xdist the
controller (the workers come and go). It writes `soak.json` (port, PID) into a directory every process of
the session knows, a thread of its own writes `exit_code` when the soak exits, and another scrapes
/metrics every SCRAPE_EVERY_S while the soak runs and keeps each answer as it came (`scrapes/NNNN.prom`,
with the live.json of that moment beside it): a suite longer than the soak reaches the test after the soak
has ended, and what /metrics served during it must still be there to parse. The test, in whichever process
runs it, reads those files and signals the soak by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port, harness_argv

SCENARIO = Path(__file__).resolve().parent / "fixtures" / "scenarios" / "e2e" / "soak.yaml"
SOAK_MODULE = "tests/e2e/test_soak.py"
DURATION_S = 600.0  # --duration 10m
PARTIAL_EVERY_S = 120.0  # --partial-every 2m
STATE_FILE, EXIT_FILE, LOG_FILE, SCRAPES = "soak.json", "exit_code", "harness.log", "scrapes"
SCRAPE_EVERY_S = 10.0


@dataclass
class Soak:
    """The soak as any process of the session sees it (from `root/soak.json`)."""

    root: Path
    port: int
    pid: int
    started_at: float  # time.time()

    @classmethod
    def read(cls, root: Path, timeout_s: float = 120.0) -> Soak | None:
        deadline = time.monotonic() + timeout_s
        while not (root / STATE_FILE).exists():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)
        state = json.loads((root / STATE_FILE).read_text())
        return cls(root, int(state["port"]), int(state["pid"]), float(state["started_at"]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def elapsed_s(self) -> float:
        return time.time() - self.started_at

    def running(self) -> bool:
        return not (self.root / EXIT_FILE).exists()

    def wait(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while self.running():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the soak (pid {self.pid}) did not exit within {timeout_s:g} s:\n{self.log()}")
            time.sleep(0.5)
        return int((self.root / EXIT_FILE).read_text())

    def interrupt(self, timeout_s: float = 180.0) -> int:
        """Ctrl-C, as an SRE ending a soak early: the run rolls back, compacts and reports what it has."""
        if self.running():
            os.kill(self.pid, signal.SIGINT)  # our own soak's PID, started by this session
        return self.wait(timeout_s)

    def run_dir(self) -> Path | None:
        return run_dir_of(self.root)

    def scrapes(self) -> list[tuple[str, str]]:
        """Every /metrics answer kept so far, in order, each with the live.json read right after it."""
        out = []
        for path in sorted((self.root / SCRAPES).glob("*.prom")):
            live = path.with_suffix(".live.json")
            out.append((path.read_text(), live.read_text() if live.exists() else "{}"))
        return out

    def log(self) -> str:
        path = self.root / LOG_FILE
        return path.read_text(errors="replace") if path.exists() else ""


class Launched:
    """The soak in the process that started it: the child, and the thread that records its exit."""

    def __init__(self, root: Path):
        self.root = root
        port = free_port()
        argv = harness_argv("run", str(SCENARIO), "--out", str(root / "reports"), "--duration", "10m",
                            "--partial-every", "2m", "--metrics-port", str(port))  # fmt: skip
        with open(root / LOG_FILE, "wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _write(root / STATE_FILE, json.dumps({"port": port, "pid": self.process.pid, "started_at": time.time()}))
        self._ended = threading.Event()
        self._reaper = threading.Thread(target=self._record_exit, name="soak-reaper", daemon=True)
        self._reaper.start()
        self._scraper = threading.Thread(target=self._scrape, args=(port,), name="soak-scraper", daemon=True)
        self._scraper.start()

    def _record_exit(self) -> None:
        code = self.process.wait()
        self._ended.set()
        _write(self.root / EXIT_FILE, str(code))

    def _scrape(self, port: int) -> None:
        """Every SCRAPE_EVERY_S until the soak exits (a bounded loop: the soak is bounded in time)."""
        (self.root / SCRAPES).mkdir(exist_ok=True)
        count = 0
        while not self._ended.wait(SCRAPE_EVERY_S):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5.0) as response:
                    text = response.read().decode()
            except OSError:
                continue  # not listening yet, or gone at the end of the run
            run_dir = run_dir_of(self.root)
            live = run_dir / "live.json" if run_dir is not None else None
            count += 1
            if live is not None and live.exists():
                _write(self.root / SCRAPES / f"{count:04d}.live.json", live.read_text())
            _write(self.root / SCRAPES / f"{count:04d}.prom", text)

    def stop(self) -> None:
        """At the end of the session, whatever happened: our process only, by its PID."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reaper.join(timeout=5)
        self._scraper.join(timeout=15)


def run_dir_of(root: Path) -> Path | None:
    dirs = [p for p in (root / "reports").glob("*-soak") if p.is_dir()] if (root / "reports").exists() else []
    return dirs[0] if dirs else None


def _write(path: Path, text: str) -> None:
    """Whole files only: a reader in another process never sees half of one."""
    tmp = path.with_name(f".{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
