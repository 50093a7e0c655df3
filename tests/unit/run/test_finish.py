"""The end of a run writes summary.json once, and journal, summary and exit code agree from that first
write; `harness report` rebuilds the same. (Before: summary.json said `exit_code: null, status: completed`
for a run whose SLOs failed, and the journal was patched after the report.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import harness.analysis.summary
from harness.records import read_manifest, shard_paths
from harness.report.build import build_report
from harness.run.finish import finish
from harness.run.journal import Journal
from tests.unit.analysis.synthetic import write_run


def closed_journal(run_dir: Path, status: str) -> Journal:
    """The journal as `harness run` leaves it after its rollback: how the run ended, no verdict yet."""
    raw = json.loads((run_dir / "journal.json").read_text())
    journal = Journal(run_dir / "journal.json", raw["run_id"], raw["scenario"])
    journal.started_at, journal.ended_at, journal.test_start = raw["started_at"], raw["ended_at"], raw["test_start"]
    journal.phases, journal.faults = raw["phases"], raw["faults"]
    journal.status = status
    journal.write()
    return journal


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    real = harness.analysis.summary.write_summary

    def counting(summary, run_dir):
        seen.append(json.loads(json.dumps(summary)))
        return real(summary, run_dir)

    monkeypatch.setattr(harness.analysis.summary, "write_summary", counting)  # build imports it when it runs
    return seen


def test_a_completed_run_whose_slo_failed_says_failed_and_1_everywhere(tmp_path: Path, writes) -> None:
    run_dir = write_run(tmp_path)
    journal = closed_journal(run_dir, "completed")
    finished = finish(run_dir, journal, [], "completed", 4)
    assert finished.exit_code == 1
    assert len(writes) == 1  # written once
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert (on_disk["status"], on_disk["exit_code"], on_disk["verdict"]) == ("failed", 1, "fail")
    saved = json.loads((run_dir / "journal.json").read_text())
    assert (saved["status"], saved["exit_code"]) == ("failed", 1)
    rebuilt = build_report(run_dir)
    assert (rebuilt.summary["status"], rebuilt.summary["exit_code"], rebuilt.exit_code) == ("failed", 1, 1)
    junit = (run_dir / "junit.xml").read_text()
    assert '<property name="exit_code" value="1" />' in junit


def test_the_end_of_a_run_compacts_its_records_and_reports_the_same_numbers(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path)
    from_shards = build_report(run_dir, index=False).summary
    finish(run_dir, closed_journal(run_dir, "completed"), [], "completed", 0)
    for kind in ("attempts", "operations"):
        assert read_manifest(run_dir / "records", kind) is not None
        assert not shard_paths(run_dir / "records", kind)
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["phases"] == from_shards["phases"] and on_disk["slos"] == from_shards["slos"]


def test_an_aborted_run_keeps_its_exit_code_and_never_says_pass(tmp_path: Path, writes) -> None:
    run_dir = write_run(tmp_path)
    finished = finish(run_dir, closed_journal(run_dir, "aborted"), [], "aborted", 3)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert finished.exit_code == 3
    assert (summary["status"], summary["exit_code"], summary["verdict"]) == ("aborted", 3, "fail")
    assert build_report(run_dir).exit_code == 3


def test_a_secret_in_the_records_makes_the_run_crashed_before_the_report(tmp_path: Path, writes) -> None:
    run_dir = write_run(tmp_path)
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "locust.log").write_text("oops: s3cr3t-value-123 leaked\n")
    finished = finish(run_dir, closed_journal(run_dir, "completed"), ["s3cr3t-value-123"], "completed", 4)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert finished.exit_code == 4 and len(writes) == 1
    assert (summary["status"], summary["exit_code"], summary["verdict"]) == ("crashed", 4, "fail")
    assert any("secret scan failed" in e for e in json.loads((run_dir / "journal.json").read_text())["errors"])
