"""Soak ergonomics (issue 20): a run's length given as `--duration 24h` or a wall-clock end (`--until
2026-12-06T09:00Z`), a partial report every N minutes that an SRE can open while the run goes on, and the
disk a run will use, estimated in `--dry-run` from its rate and duration.

A run length stretches (or shrinks) every phase by one factor, as `--duration-scale` does: the faults keep
their place in the run's shape (a fault at a third of the way stays at a third).

Partial reports are `harness report RUN_DIR --out RUN_DIR/partial/<elapsed>` in a child process at low
priority, one at a time: the watch loop never waits for one, a report that takes longer than the interval
makes the next one later rather than two at once, and its memory goes back when it exits.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import InputError
from harness.run.services import ManagedProcess
from harness.scenario.model import Scenario

PARTIAL_DIR = "partial"
FINISH_S = 10.0  # what a partial report still going at the end of the run gets to finish
_UNITS = {"d": 86_400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
# The disk model of --dry-run, measured with bench/synth.py (the per-record shape of a real run: three
# flows of 2-4 steps, a brownout with retries), README "Soak":
# - 1M records in 156,397 journeys: 6.5 records a journey; compacted, 17.2 MB (17 B a record);
# - as the run writes them, one shard per kind a second per load process: 23 B a record at 10,000
#   records/s, and 4.4 kB a shard at 20 records/s (8.26 MB in 1,871 shards): a shard's own cost dominates
#   a trickle, whose shards stay until the compaction at the end (which writes the compacted copy first);
# - a partial report: about 1.1 MB (figures and report.html) plus 70 B per second of run (series.csv).
RECORDS_PER_JOURNEY = 6.5
SHARD_RECORD_B, SHARD_B, COMPACT_RECORD_B = 23.0, 4_200.0, 17.0
PARTIAL_B, PARTIAL_PER_S_B = 1.1e6, 70.0


def parse_duration(text: str, option: str = "--duration") -> float:
    """Seconds in `24h`, `90m`, `1h30m`, `45s`, `2d` or a plain number of seconds."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise InputError(f"{option} {text!r}: give a duration such as 24h, 90m, 1h30m or 3600") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0:
        raise InputError(f"{option} {text!r}: the duration must be above 0")
    return seconds


def parse_until(text: str, now: datetime | None = None) -> float:
    """Seconds from now to the wall-clock time `text` (ISO 8601; `Z` or an offset; no zone means UTC)."""
    value = text.strip()
    try:
        when = datetime.fromisoformat(value[:-1] + "+00:00" if value.upper().endswith("Z") else value)
    except ValueError:
        raise InputError(f"--until {text!r}: give a time such as 2026-12-06T09:00Z (ISO 8601, UTC)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    seconds = (when - now).total_seconds()
    if seconds <= 0:
        raise InputError(f"--until {text!r} is in the past (now is {now:%Y-%m-%dT%H:%M:%SZ})")
    return seconds


def run_length_scale(scenario: Scenario, duration: str | None, until: str | None, duration_scale: float) -> float:
    """The factor the phases are stretched by for `--duration` / `--until` (or `duration_scale` as given)."""
    given = [name for name, v in (("--duration", duration), ("--until", until)) if v is not None]
    if len(given) > 1 or (given and duration_scale != 1.0):
        raise InputError(f"give one of --duration, --until and --duration-scale (got {', '.join(given)}"
                         + (" and --duration-scale)" if duration_scale != 1.0 else ")"))  # fmt: skip
    if duration is not None:
        return parse_duration(duration) / scenario.duration_s
    if until is not None:
        return parse_until(until) / scenario.duration_s
    return duration_scale


@dataclass(frozen=True)
class SoakOptions:
    """`harness run`'s options for long runs, as given on the command line (None: not given)."""

    duration: str | None = None  # --duration 24h
    until: str | None = None  # --until 2026-12-06T09:00Z
    metrics_port: int | None = None  # --metrics-port (overrides live.metrics_port)
    partial_every: str | None = None  # --partial-every 30m (overrides live.partial_report_every_s)

    def apply(self, scenario: Scenario, duration_scale: float) -> tuple[Scenario, float]:
        """The scenario as this run drives it (stretched, its live outputs set) and the scale it got."""
        scale = run_length_scale(scenario, self.duration, self.until, duration_scale)
        live = scenario.live
        if self.metrics_port is not None:
            if not 0 <= self.metrics_port <= 65_535:
                raise InputError(f"--metrics-port must be between 0 and 65535 (got {self.metrics_port})")
            live = live.model_copy(update={"metrics_port": self.metrics_port})
        if self.partial_every is not None:
            every_s = parse_duration(self.partial_every, "--partial-every")
            if every_s < 10:
                raise InputError(f"--partial-every {self.partial_every!r}: at least 10 s between partial reports")
            live = live.model_copy(update={"partial_report_every_s": every_s})
        scenario = scenario.model_copy(update={"live": live})
        return (scenario.scaled(scale) if scale != 1.0 else scenario), scale


# --- the disk a run will use ----------------------------------------------------------------------


def journeys_estimate(scenario: Scenario) -> float:
    """Journeys the run can start: open loop, its rate per phase times the phase's length; closed loop,
    each user one journey per mean think time (an upper bound: the journey's own time is left out)."""
    load, total = scenario.load, 0.0
    for phase in scenario.phases:
        if load.arrival == "open":
            rate = phase.rate_per_s or load.rate_per_s or 0.0
        else:
            users = phase.users if phase.users is not None else load.users
            rate = users / max(sum(load.think_time_s) / 2.0, 0.05)  # 0.05 s: a journey takes some time
        total += rate * phase.duration_s
    return total


def disk_line(scenario: Scenario, partial_every_s: float | None, load_processes: int = 1) -> str:
    """What the run's records and partial reports will take on disk, at most (harness run --dry-run)."""
    journeys = journeys_estimate(scenario)
    records = journeys * RECORDS_PER_JOURNEY
    seconds = scenario.duration_s
    shard_files = min(2.0 * seconds * load_processes, records)  # one shard per kind a second, if it has rows
    shards = records * SHARD_RECORD_B + shard_files * SHARD_B
    compacted = records * COMPACT_RECORD_B
    line = (f"disk: records of up to {journeys:,.0f} journeys ({records:,.0f} records) take about {_bytes(shards)} "
            f"as shards while the run goes and {_bytes(compacted)} once compacted at its end (peak "
            f"{_bytes(shards + compacted)} while it compacts)")  # fmt: skip
    if partial_every_s:
        count = int(seconds // partial_every_s)
        size = sum(PARTIAL_B + PARTIAL_PER_S_B * k * partial_every_s for k in range(1, count + 1))
        line += f"; {count} partial reports (every {partial_every_s:g} s) in {PARTIAL_DIR}/, about {_bytes(size)}"
    return line


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"  # not reached


# --- partial reports --------------------------------------------------------------------------------


class PartialReports:
    """Every `every_s` of the run, a report of the records so far in partial/<elapsed>/ (one at a time)."""

    def __init__(self, run_dir: Path, every_s: float, start: float):
        self.run_dir, self.every_s = run_dir, every_s
        self.next_at = start + every_s
        self.current: ManagedProcess | None = None
        self.written: list[Path] = []

    def tick(self, now: float, test_start: float | None) -> Path | None:
        """Start the next partial report if it is due and the last one has finished; returns its directory."""
        if now < self.next_at or (self.current is not None and self.current.alive()):
            return None
        self.next_at = now + self.every_s
        elapsed = max(0.0, now - (test_start if test_start is not None else now))
        hours, minutes, seconds = int(elapsed // 3600), int(elapsed % 3600 // 60), int(elapsed % 60)
        out = self.run_dir / PARTIAL_DIR / f"{hours:02d}h{minutes:02d}m{seconds:02d}s"  # sorts as time goes
        # nice: the load and the watch loop come first; one DuckDB/BLAS thread, the load has the other core
        argv = ["nice", "-n", "10", sys.executable, "-m", "harness", "report", str(self.run_dir), "--out", str(out)]
        log = self.run_dir / "logs" / "partial-reports.log"
        env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        self.current = ManagedProcess("partial-report", argv, log, env=env).start()
        self.written.append(out)
        return out

    def stop(self, finish_s: float = FINISH_S) -> None:
        """A partial report still being written when the run ends gets `finish_s` to finish (it may be writing
        its last file), then is stopped and its half-written directory removed (the final report follows)."""
        if self.current is None or not self.current.alive():
            return
        self.current.wait(finish_s)
        if self.current.alive():
            self.current.stop(timeout_s=5.0)
            shutil.rmtree(self.written.pop(), ignore_errors=True)
