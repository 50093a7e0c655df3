"""How the orchestrator hears signals: each stop signal (SIGHUP too: a dropped SSH session) becomes an
`Interrupted` while the run holds resources, and only a call of `on_force` during the rollback."""

from __future__ import annotations

import os
import signal

import pytest

from harness.run.signals import Interrupted, signals_force, signals_raise


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_interrupts_the_run(sig: signal.Signals) -> None:
    received: list[str] = []
    with pytest.raises(Interrupted, match=sig.name), signals_raise(received):
        assert callable(signal.getsignal(sig)), "not handled: the signal would end the test process"
        os.kill(os.getpid(), sig)  # handled in this (main) thread before the next statement
    assert received == [sig.name]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stop_signal_during_rollback_only_forces(sig: signal.Signals, capsys: pytest.CaptureFixture[str]) -> None:
    forced: list[bool] = []
    with signals_force(lambda: forced.append(True)):
        assert callable(signal.getsignal(sig)), "not handled: the signal would end the test process"
        os.kill(os.getpid(), sig)
    assert forced == [True]
    assert "faults are still being removed" in capsys.readouterr().err


def test_handlers_are_put_back() -> None:
    before = signal.getsignal(signal.SIGHUP)
    with signals_raise([]):
        assert signal.getsignal(signal.SIGHUP) is not before
    assert signal.getsignal(signal.SIGHUP) is before
