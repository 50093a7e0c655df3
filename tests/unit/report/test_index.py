import json

from harness.report.index import write_index
from tests.unit.analysis.synthetic import journal
from tests.unit.report.test_html import parse


def fake_run(root, name, started_at, verdict="pass", summary=True):
    run = root / name
    run.mkdir()
    if summary:
        (run / "summary.json").write_text(
            json.dumps(
                {
                    "scenario": {"name": name.split("-", 1)[1]},
                    "started_at": started_at,
                    "status": "completed",
                    "verdict": verdict,
                    "slos": [{"verdict": "pass"}, {"verdict": verdict}],
                    "totals": {"operations": 1234, "availability": {"operation": 0.995}},
                    "phases": {"baseline": {"latency_ms": {"operation": {"p99": 12.5}}}},
                    "baseline_phase": "baseline",
                    "faults": [{"time_to_recover_s": 4.0}],
                }
            )
        )
        (run / "report.html").write_text("<html></html>")
    else:
        (run / "journal.json").write_text(json.dumps(journal("running") | {"started_at": started_at}))
    return run


def test_every_run_newest_first_with_verdict_numbers_and_links(tmp_path):
    fake_run(tmp_path, "20260101T000000Z-old", 1_767_225_600.0, "fail")
    fake_run(tmp_path, "20260301T000000Z-new", 1_772_323_200.0)
    fake_run(tmp_path, "20260201T000000Z-live", 1_769_904_000.0, summary=False)
    (tmp_path / "compare-20260302T000000Z").mkdir()
    (tmp_path / "compare-20260302T000000Z" / "compare.html").write_text("<html></html>")
    (tmp_path / "stray").mkdir()
    path = write_index(tmp_path)
    assert path == tmp_path / "index.html"
    page = parse(path.read_text())
    head, *rows = page.tables["runs"]
    assert [r[0] for r in rows] == ["20260301T000000Z-new", "20260201T000000Z-live", "20260101T000000Z-old"]
    new = dict(zip(head, rows[0], strict=True))
    assert (new["scenario"], new["verdict"], new["SLOs held"], new["operations"]) == ("new", "pass", "2 / 2", "1234")
    assert (new["availability (operations)"], new["worst p99 (ms)"], new["worst time to recover (s)"]) == (
        "99.5%", "12.5", "4",
    )  # fmt: skip
    assert new["links"] == "report · summary.json"  # only files that exist
    assert rows[1][3:5] == ["running", "—"] and rows[1][-1] == "no report yet"
    assert rows[2][4] == "fail"
    html = path.read_text()
    assert 'href="20260301T000000Z-new/report.html"' in html
    assert 'href="compare-20260302T000000Z/compare.html"' in html


def test_an_empty_reports_dir_gets_a_page_saying_so(tmp_path):
    html = write_index(tmp_path / "reports").read_text()
    assert "No run yet" in html


def test_build_report_rewrites_the_parent_index(built):
    assert (built.run_dir.parent / "index.html").is_file()
    assert built.run_dir.name in (built.run_dir.parent / "index.html").read_text()
