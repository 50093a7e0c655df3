"""The target's process tree, read from /proc: its uvicorn workers are the main process's children.
Signals go only to PIDs found this way under the process the harness started (never by name)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROC = Path("/proc")


def parent_of(pid: int, proc: Path = PROC) -> int | None:
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return None if fields[0] in ("Z", "X") else int(fields[1])


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
