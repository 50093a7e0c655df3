import json
import sys

import pytest

from harness.errors import InputError
from harness.report.build import build_report
from tests.unit.analysis.synthetic import write_run


def test_build_report_writes_every_file_and_fails_when_an_slo_failed(built):
    run_dir = built.run_dir
    assert built.report_html == run_dir / "report.html"
    assert built.junit_xml == run_dir / "junit.xml"
    assert sorted(p.name for p in (run_dir / "figures").iterdir()) == [
        f"{name}.png"
        for name in sorted(
            ["timeline", "latency", "latency_by_step", "availability", "throughput", "outcomes", "latency_cdf"]
        )
    ]
    assert json.loads((run_dir / "summary.json").read_text()) == built.summary
    assert built.exit_code == 1


def test_exit_code_is_zero_when_every_slo_passed(run_dir):
    scenario = (run_dir / "scenario.yaml").read_text()
    kept = [line for line in scenario.splitlines() if "brownout-availability" not in line]
    kept = [line for line in kept if "retry-amplification" not in line and "cooldown-p95" not in line]
    (run_dir / "scenario.yaml").write_text("\n".join(kept) + "\n")
    result = build_report(run_dir)
    assert result.summary["verdict"] == "pass"
    assert result.exit_code == 0


@pytest.mark.parametrize("missing", ["journal.json", "scenario.yaml"])
def test_not_a_run_directory_is_bad_input_naming_the_file(run_dir, missing):
    (run_dir / missing).unlink()
    with pytest.raises(InputError, match=missing) as caught:
        build_report(run_dir)
    assert caught.value.exit_code == 2


def test_a_crashed_run_without_records_still_gets_a_report(tmp_path):
    result = build_report(write_run(tmp_path, records=False, status="crashed"))
    assert result.report_html.is_file() and result.junit_xml.is_file()
    assert result.exit_code == 1


def test_the_cli_prints_the_report_and_returns_the_exit_code(run_dir, capsys):
    from harness.cli import main

    assert main(["report", str(run_dir)]) == 1
    assert "report.html" in capsys.readouterr().out


FIGURES = ["availability", "latency", "latency_by_step", "latency_cdf", "outcomes", "throughput", "timeline"]


@pytest.mark.parametrize("worker", [("-c", "import sys; sys.exit(3)"), None])
def test_figures_are_drawn_here_when_the_drawing_process_fails_or_cannot_start(run_dir, monkeypatch, capsys, worker):
    from harness.report import render

    if worker is None:
        monkeypatch.setattr(sys, "executable", str(run_dir / "no-such-python"))
    else:
        monkeypatch.setattr(render, "WORKER", worker)
    result = build_report(run_dir, index=False)
    assert sorted(p.stem for p in (run_dir / "figures").iterdir()) == FIGURES
    assert result.report_html.read_text().count("data:image/png;base64,") == len(FIGURES)
    if worker is not None:
        assert "the figure worker failed" in capsys.readouterr().err
