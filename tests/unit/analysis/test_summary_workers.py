"""The report covers every load worker: who joined, the records held of each, and for one lost mid-run a
note naming it with the seconds of the run its records are missing for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.analysis.summary import build_summary
from harness.report.html import render_report
from tests.unit.analysis.synthetic import T0


def with_workers(run_dir: Path, workers: list[dict[str, Any]], listen: str | None = None) -> None:
    path = run_dir / "journal.json"
    journal = json.loads(path.read_text())
    journal["workers"] = workers
    if listen is not None:
        journal.setdefault("services", {})["target"] = {"listen": listen}
    path.write_text(json.dumps(journal))


def worker(node: str, **extra: Any) -> dict[str, Any]:
    return {"node": node, "host": f"host-{node}", "pid": 11, "cores": 4, "version": "0.1.0", "remote": True,
            "joined_at": T0, "records": {"attempts": 120, "operations": 80, "shards": 8}, "first_ts": T0,
            "last_ts": T0 + 30, "lost": None, "complete": True, "missing": None, **extra}  # fmt: skip


def test_a_lost_worker_is_named_with_its_missing_seconds(run_dir: Path) -> None:
    lost = {"at": T0 + 14.0, "how": "missing", "phase": "brownout", "made": 260}
    with_workers(run_dir, [worker("far-a"), worker("far-b", lost=lost, complete=False,
                                                    missing=[T0 + 11.5, T0 + 14.0], last_ts=T0 + 11.5)])  # fmt: skip
    summary = build_summary(run_dir)
    (note,) = [n for n in summary["notes"] if "far-b" in n]
    assert note.startswith("load worker far-b (host-far-b) stopped answering at 14.0 s, in phase brownout")
    assert "its records from 11.5 s to 14.0 s are missing" in note
    assert "it had written 260 records by its last report, 200 are here" in note
    assert not [n for n in summary["notes"] if "far-a" in n]
    workers = {w["node"]: w for w in summary["workers"]}
    assert workers["far-b"]["missing_s"] == [11.5, 14.0] and workers["far-a"]["missing_s"] is None
    html = render_report(summary, {})
    assert 'id="workers"' in html and "host-far-a" in html and "11.5-14 s" in html


def test_the_listen_address_is_in_the_report(run_dir: Path) -> None:
    with_workers(run_dir, [], listen="10.0.0.5")
    summary = build_summary(run_dir)
    assert summary["listen"] == "10.0.0.5" and summary["workers"] == []
    assert "<code>10.0.0.5</code> (given by --listen)" in render_report(summary, {})


def test_a_one_process_run_has_no_load_section(run_dir: Path) -> None:
    summary = build_summary(run_dir)
    assert summary["workers"] == [] and 'id="load-section"' not in render_report(summary, {})
