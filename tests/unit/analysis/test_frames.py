import json
from pathlib import Path

import pytest

from harness.analysis.frames import fault_label, load_run
from harness.errors import InputError
from harness.records import OPERATION_SCHEMA
from tests.unit.analysis.synthetic import T0, journal, write_run


def since_t0(t: float | None) -> float:
    assert t is not None, "a phase of the synthetic run has both ends"
    return t - T0


def rewrite_journal(run_dir: Path, **changes) -> None:
    data = journal() | changes
    (run_dir / "journal.json").write_text(json.dumps(data), encoding="utf-8")


def test_loads_records_phases_and_faults(run_dir):
    run = load_run(run_dir)
    assert (run.stats.count("operation"), run.stats.count("attempt")) == (300, 410)
    assert [(p.name, since_t0(p.start), since_t0(p.end)) for p in run.phases] == [
        ("baseline", 0.0, 10.0),
        ("brownout", 10.0, 20.0),
        ("recovery", 20.0, 30.0),
        ("cooldown", 30.0, 35.0),
    ]
    assert run.phases[1].faults == ({"type": "http_error", "endpoint": "token", "match": "exact", "status": 503,
                                     "probability": 0.5},)  # fmt: skip
    (fault,) = run.faults
    assert (fault.id, fault.type, fault.start - T0, fault.end - T0) == ("brownout.0", "http_error", 10.0, 20.0)
    assert fault.lateness_ms == pytest.approx(10.0, abs=1e-3)
    assert run.t0 == T0
    assert run.data_end == pytest.approx(T0 + 29.9)


@pytest.mark.parametrize("missing", ["journal.json", "scenario.yaml"])
def test_a_directory_without_journal_or_scenario_is_bad_input(run_dir, missing):
    (run_dir / missing).unlink()
    with pytest.raises(InputError, match=missing):
        load_run(run_dir)


def test_an_unreadable_journal_is_bad_input(run_dir):
    (run_dir / "journal.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read the journal"):
        load_run(run_dir)
    (run_dir / "journal.json").write_text(json.dumps({"schema_version": 9}), encoding="utf-8")
    with pytest.raises(InputError, match="schema_version 9"):
        load_run(run_dir)


def test_a_run_without_records_reads_as_empty_records(tmp_path):
    run = load_run(write_run(tmp_path, records=False, status="crashed"))
    assert run.stats.count("attempt") == run.stats.count("operation") == 0
    assert not run.has_records
    found = run.records.frame("SELECT * FROM operations")
    assert found.empty and list(found.columns)[: len(OPERATION_SCHEMA)] == OPERATION_SCHEMA.names


def test_fault_times_fall_back_to_asked_times_then_to_the_phase_end(run_dir):
    entry = journal()["faults"][0] | {"applied_at": None, "removed_at": None, "remove_asked_at": None}
    rewrite_journal(run_dir, faults=[entry])
    (fault,) = load_run(run_dir).faults
    assert fault.start == pytest.approx(T0 + 9.99)  # asked
    assert fault.end == T0 + 20.0  # the end of its phase
    assert fault.lateness_ms is None


def test_phases_the_journal_lost_are_placed_by_their_records(run_dir):
    rewrite_journal(run_dir, phases=[], test_start=None)
    run = load_run(run_dir)
    baseline, brownout, _, cooldown = run.phases
    assert baseline.start == T0 and brownout.start == T0 + 10
    assert baseline.end == T0 + 10  # the first record of the next phase
    assert run.phases[2].end == T0 + 36.0  # no later phase ran: the run's end
    assert cooldown.start is None and cooldown.duration_s is None
    assert run.t0 == T0


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        ({"type": "http_error", "status": 503, "probability": 0.3, "endpoint": "token"}, "http_error 503 p=0.3 token"),
        ({"type": "http_error", "status": 429, "retry_after_s": 1.0, "path": "/x"}, "http_error 429 retry-after=1s /x"),
        ({"type": "latency", "latency_ms": 200.0, "jitter_ms": 50, "method": "POST", "endpoint": "token"},
         "latency 200ms±50ms POST token"),
        ({"type": "latency", "latency_ms": 100}, "latency 100ms"),
        ({"type": "kill", "target": "idp", "signal": "KILL"}, "kill signal=KILL target=idp"),
    ],
)  # fmt: skip
def test_fault_labels_read_like_the_scenario(spec, label):
    assert fault_label(spec) == label


def test_the_phase_ends_that_decide_in_flight_records_are_the_journals_not_a_guess(run_dir):
    ends = {"baseline": 10, "brownout": 20, "recovery": 30, "cooldown": 35}
    assert load_run(run_dir).stats.phase_ends == {name: T0 + end for name, end in ends.items()}
    # read while the run goes: recovery has started, has no end yet, and nothing after it has started
    live = journal()
    live["phases"] = live["phases"][:3]
    del live["phases"][2]["end"]
    rewrite_journal(run_dir, phases=live["phases"], ended_at=None)
    run = load_run(run_dir)
    recovery = run.phase("recovery")
    assert recovery is not None and recovery.end is not None  # placed by its last record, for the figures
    assert run.stats.phase_ends["brownout"] == T0 + 20 and run.stats.phase_ends["recovery"] is None
    # a phase whose end the journal lost ended when the next one started
    lost = journal()
    del lost["phases"][1]["end"]
    rewrite_journal(run_dir, phases=lost["phases"])
    assert load_run(run_dir).stats.phase_ends["brownout"] == T0 + 20
