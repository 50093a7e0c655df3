"""Processes as /proc shows them: a process's identity (PID and start time, so that a recycled PID is
never mistaken for ours) and the target's process tree (its uvicorn workers are the main process's
children). Signals go only to PIDs found this way under a process the harness started, never by name."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROC = Path("/proc")


def process_start_ticks(pid: int, proc: Path = PROC) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None when
    there is no such process or it is a zombie (it has exited; only its exit status is left)."""
    fields = _stat_fields(pid, proc)
    return None if fields is None else int(fields[19])


def same_process(pid: int, start_ticks: int | None) -> bool:
    """`pid` is still the process that started at `start_ticks` (any process, when that is unknown)."""
    current = process_start_ticks(pid)
    return current is not None and (start_ticks is None or current == start_ticks)


def _stat_fields(pid: int, proc: Path) -> list[str] | None:
    """/proc/PID/stat from field 3 on, or None for no such process or a zombie."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return None if fields[0] in ("Z", "X") else fields


def parent_of(pid: int, proc: Path = PROC) -> int | None:
    fields = _stat_fields(pid, proc)
    return None if fields is None else int(fields[1])


def cmdline(pid: int, proc: Path = PROC) -> str:
    try:
        return (proc / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def children(pid: int, proc: Path = PROC) -> list[int]:
    """Live children of `pid`, oldest PID first."""
    out = []
    for entry in proc.iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name), proc) == pid:
            out.append(int(entry.name))
    return sorted(out)


def worker_pids(main_pid: int, proc: Path = PROC) -> list[int]:
    """uvicorn's worker processes under the target's main process (multiprocessing spawn children; the
    resource tracker, if any, is not a worker). Empty for a single-process target."""
    return [p for p in children(main_pid, proc) if "resource_tracker" not in cmdline(p, proc)]


def send(pids: list[int], sig: int) -> list[int]:
    """Signal each PID that still exists; return the ones signalled."""
    done = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            done.append(pid)
    return done
