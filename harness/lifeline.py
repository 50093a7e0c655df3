"""Processes that die with their parent: Linux's parent-death signal (prctl PR_SET_PDEATHSIG), so that an
orchestrator killed hard (SIGKILL, the OOM killer) takes its proxy, target and load with it instead of
leaving a proxy listening with its faults on until somebody runs `harness cleanup`.

The kernel sends the signal when the *thread* that forked the child exits, not the process: a child
forked from a short-lived thread (the restart of a process fault runs in one) would be killed as soon as
that thread ends. `Spawner` therefore forks every child from one thread that lives as long as its process.
Where there is no prctl (not Linux), nothing is asked and the leftovers registry remains the safety net.

A leaf module (anyone may import it): the run's children and the target's uvicorn workers both use it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
T = TypeVar("T")


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> bool:
    """From now on, receive `sig` when the parent (`parent_pid`) goes; if it is already gone (it died
    before we could ask), receive it now. False where the kernel has no such signal."""
    prctl = _prctl()
    if prctl is None or prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
    return True


def preexec_die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `subprocess.Popen(preexec_fn=...)` that asks for `sig` in the child, between fork and exec. The
    function and the parent's PID are looked up here, in the parent, so that the child between fork and
    exec imports nothing and calls only prctl, getppid and kill (async-signal-safe system calls)."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent, number, getppid, kill, getpid = os.getpid(), int(sig), os.getppid, os.kill, os.getpid

    def in_child() -> None:
        prctl(PR_SET_PDEATHSIG, number, 0, 0, 0)
        if getppid() != parent:
            kill(getpid(), number)

    return in_child


class Spawner:
    """Runs every fork of its process on one long-lived thread (see the module docstring), so that the
    parent-death signal of a child means "the process that started me is gone", whichever thread of that
    process asked for the child."""

    _lock = threading.Lock()
    _pool: ThreadPoolExecutor | None = None
    _pid: int | None = None

    @classmethod
    def call(cls, fork: Callable[[], T]) -> T:
        with cls._lock:
            if cls._pool is None or cls._pid != os.getpid():  # a forked copy of us has no such thread
                cls._pool, cls._pid = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spawner"), os.getpid()
            pool = cls._pool
        return pool.submit(fork).result()


def end_process_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM, then SIGKILL, to the process group `process` leads (started with start_new_session): only
    what we started, each signal given `grace_s` to work. communicate() drains a piped output while waiting,
    so a child blocked on a full pipe still gets to exit."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.communicate(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue
