"""How a run hears signals. While it runs, SIGINT, SIGTERM and SIGHUP become an `Interrupted` exception
(never installed at import); while it rolls back, another one only cuts waiting for the load short, so
that a second Ctrl-C can never leave a fault on. SIGHUP is a stop like the others: a dropped SSH session
or a closed terminal must not leave faults on (its default action would end the orchestrator on the
spot, with every rollback step skipped)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """SIGINT, SIGTERM or SIGHUP reached the orchestrator."""


@contextmanager
def signals_raise(received: list[str]) -> Iterator[None]:
    """Turn SIGINT/SIGTERM/SIGHUP into Interrupted for the duration of the block. The signal is also written
    down: an exception raised while a finalizer happens to run is swallowed by Python, so the run's loops
    check `received` too (`raise_if_received`)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        raise Interrupted(received[-1])

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    before = len(received)
    try:
        yield
    except Exception as exc:
        # A library may turn the handler's Interrupted into an error of its own: DuckDB checks for signals
        # while a query runs (a live judgement, a partial report) and raises RuntimeError("Query
        # interrupted"). Once a stop signal arrived, whatever escapes the block is that interruption, and
        # the run ends "interrupted" (exit 3), not "crashed" (exit 4).
        if len(received) > before and not isinstance(exc, Interrupted):
            raise Interrupted(received[-1]) from exc
        raise
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def raise_if_received(received: list[str]) -> None:
    if received:
        raise Interrupted(received[0])


@contextmanager
def signals_force(on_force: Callable[[], None]) -> Iterator[None]:
    """For the rollback: a signal calls `on_force` (stop waiting for the load to wind down) and is
    otherwise ignored, so the rollback itself always finishes."""

    def handler(signum: int, frame: FrameType | None) -> None:
        on_force()
        print("\nharness: forcing: the load is killed now; faults are still being removed", file=sys.stderr)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
