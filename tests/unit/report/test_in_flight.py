"""An SLO that leaves out the records still in flight at the end of their phase (`in_flight_at_end:
exclude`): one count, stated alike in summary.json, report.html (verdict and Methods), junit.xml and the
console's line. In the synthetic run the brownout's failing operations take 1000 ms, so the five begun in
its last second (19.1 .. 19.9 s) ended after it (20.0 s)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.analysis import metrics
from harness.report import wording
from harness.report.build import build_report
from tests.unit.analysis.synthetic import write_run

SLO = ("  - {name: settled-brownout, metric: availability, scope: operation, phases: [brownout], "
       "in_flight_at_end: exclude, at_least: 0.5}\n")  # fmt: skip
NOTE = "5 records still in flight at the end of phase brownout left out"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = write_run(tmp_path_factory.mktemp("in-flight"))
    scenario = run_dir / "scenario.yaml"
    scenario.write_text(scenario.read_text().rstrip("\n") + "\n" + SLO)
    build_report(run_dir)
    return run_dir


def test_summary_carries_the_count_and_the_verdict_says_it(report: Path) -> None:
    slos = {s["name"]: s for s in json.loads((report / "summary.json").read_text())["slos"]}
    settled, counted = slos["settled-brownout"], slos["brownout-availability"]
    assert (settled["excluded_in_flight"], settled["excluded_in_flight_by_phase"]) == (5, {"brownout": 5})
    assert settled["observed"] == pytest.approx(55 / 95) and counted["observed"] == pytest.approx(55 / 100)
    assert NOTE in settled["message"] and NOTE in wording.slo_line(settled)  # the console's final line
    assert counted["in_flight_at_end"] == "count" and counted["excluded_in_flight"] is None
    assert "in flight" not in counted["message"]


def test_report_and_junit_say_the_same_count(report: Path) -> None:
    html = (report / "report.html").read_text(encoding="utf-8")
    assert NOTE in html and metrics.IN_FLIGHT_DEFINITION.split(":")[0] in html
    assert html.count("Records in flight at the end of a phase") == 1  # defined once, in Methods
    case = next(c for c in ET.parse(report / "junit.xml").getroot().iter("testcase")
                if c.get("name") == "settled-brownout")  # fmt: skip
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert (props["in_flight_at_end"], props["excluded_in_flight"]) == ("exclude", "5")
    assert NOTE in (case.findtext("system-out") or "")
