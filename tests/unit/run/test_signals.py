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


def test_an_interruption_a_library_turned_into_its_own_error_is_still_an_interruption() -> None:
    """DuckDB, interrupted mid-query by our handler, raises RuntimeError("Query interrupted"): the run must
    still end as interrupted (exit 3), not as crashed (a full make test's soak once exited 4 on Ctrl-C)."""
    received: list[str] = []

    def query() -> None:  # what DuckDB does with the exception our handler raised
        try:
            os.kill(os.getpid(), signal.SIGINT)
        except Interrupted:
            raise RuntimeError("Query interrupted") from None

    with pytest.raises(Interrupted, match="SIGINT") as raised, signals_raise(received):
        query()
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_an_error_without_a_signal_stays_what_it_is() -> None:
    with pytest.raises(RuntimeError, match="a bug"), signals_raise([]):
        raise RuntimeError("a bug")


def test_handlers_are_put_back() -> None:
    before = signal.getsignal(signal.SIGHUP)
    with signals_raise([]):
        assert signal.getsignal(signal.SIGHUP) is not before
    assert signal.getsignal(signal.SIGHUP) is before
