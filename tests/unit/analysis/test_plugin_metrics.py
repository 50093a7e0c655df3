"""Metric plugins (harness/analysis/plugin_metrics.py) judged in SLOs over the synthetic run: a query and a
function over the slice's bounded frames give the numbers known by hand, with the SLO's scope, phases and
flows; the summary, junit.xml and the live view show the one number; a plugin that fails while measuring
gives "no data" saying why, and the report is still built."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import plugin_metrics
from harness.analysis.summary import build_summary
from harness.report import wording
from harness.report.build import build_report
from harness.run.live import LiveView
from harness.scenario import load_scenario
from tests.plugin_support import registry_with
from tests.unit.analysis.synthetic import T0, write_run
from tests.unit.plugins.metric_plugins import HERE

PLUGINS = {
    name: f"{HERE}:{cls}"
    for name, cls in {
        "failed_share": "FailedShare",
        "worst_second": "WorstSecond",
        "tally_availability": "TallyAvailability",
        "raises": "Raises",
        "not_a_number": "NotANumber",
        "every_row": "EveryRow",
    }.items()
}
SLOS = """
  - {name: brownout-failed, metric: failed_share, phases: [brownout], at_most: 0.5}
  - {name: brownout-failed-attempts, metric: failed_share, scope: attempt, phases: [brownout], at_most: 0.5}
  - {name: worst-second, metric: worst_second, phases: [brownout, recovery], at_least: 0.6}
  - {name: same-as-ours, metric: tally_availability, phases: [brownout], at_least: 0.5}
  - {name: verified, metric: testplugin_verify_ok, flows: [client_credentials], at_least: 0.5}
  - {name: raises, metric: raises, at_most: 1}
  - {name: not-a-number, metric: not_a_number, at_most: 1}
  - {name: every-row, metric: every_row, at_most: 1}
"""


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    with registry_with({"harness.metrics": PLUGINS}):
        run_dir = write_run(tmp_path)
        scenario = run_dir / "scenario.yaml"
        scenario.write_text(scenario.read_text() + SLOS)
        yield run_dir


def by_name(slos: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in slos}


def test_plugin_metrics_are_judged_with_the_slos_scope_and_phases(run_dir: Path) -> None:
    slos = by_name(build_summary(run_dir)["slos"])
    # brownout: 100 operations, 45 failed; 190 attempts, 45 x 3 failed
    assert (slos["brownout-failed"]["observed"], slos["brownout-failed"]["verdict"]) == (0.45, "pass")
    assert slos["brownout-failed-attempts"]["observed"] == pytest.approx(135 / 190)
    assert slos["brownout-failed-attempts"]["verdict"] == "fail"
    assert slos["brownout-failed"]["scope"] == "operation" and slos["brownout-failed-attempts"]["scope"] == "attempt"
    # seconds 11..21 have 5 of 10 operations ok
    assert (slos["worst-second"]["observed"], slos["worst-second"]["verdict"]) == (0.5, "fail")
    assert slos["same-as-ours"]["observed"] == 0.55  # the built-in availability of the brownout, from the tally
    assert slos["verified"]["verdict"] == "no_data"  # the test plugin's query: no checkout_verify step here
    assert "metric testplugin_verify_ok measured nothing over all phases, flows client_credentials" in (
        slos["verified"]["message"])
    assert all(slos[n]["interval"] is None for n in ("brownout-failed", "worst-second", "same-as-ours"))


def test_a_plugin_that_fails_while_measuring_gives_no_data_saying_why(run_dir: Path) -> None:
    summary = build_summary(run_dir)
    slos = by_name(summary["slos"])
    assert "metric plugin raises failed (RuntimeError: boom)" in slos["raises"]["message"]
    assert "metric plugin not_a_number returned 'many', not a finite number" in slos["not-a-number"]["message"]
    assert "gives 300 rows of 1 columns" in slos["every-row"]["message"]
    assert {slos[n]["verdict"] for n in ("raises", "not-a-number", "every-row")} == {"no_data"}
    assert summary["verdict"] == "fail"


def test_a_query_never_hands_back_more_than_the_row_limit(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_metrics, "MAX_RESULT_ROWS", 10)
    slos = by_name(build_summary(run_dir)["slos"])
    assert "more than 10 rows; aggregate in SQL" in slos["every-row"]["message"]
    assert slos["brownout-failed"]["observed"] == 0.45  # one row: within the limit


def test_report_junit_and_live_view_show_the_summarys_number(run_dir: Path) -> None:
    result = build_report(run_dir)
    slos = by_name(result.summary["slos"])
    cases = {c.get("name"): c for c in ET.parse(result.junit_xml).getroot().iter("testcase")}
    assert cases["worst-second"].find("failure") is not None and cases["brownout-failed"].find("failure") is None
    assert wording.slo_observed(slos["brownout-failed"]) == "45%"  # a share plugin reads as a percentage
    html = Path(result.report_html).read_text()
    assert "brownout-failed" in html and "failed_share" in html
    journal = json.loads((run_dir / "journal.json").read_text())
    view = LiveView(run_dir, load_scenario(run_dir / "scenario.yaml"))
    view.poll()
    live = by_name(view.judge_slos(journal, T0 + 40))
    for name in ("brownout-failed", "brownout-failed-attempts", "worst-second", "same-as-ours"):
        assert live[name]["observed"] == slos[name]["observed"], name
    assert live["worst-second"]["state"] == "violated" and live["brownout-failed"]["state"] == "holding"


def test_a_plugin_metric_reads_the_records_its_slo_keeps(run_dir: Path) -> None:
    """With in_flight_at_end: exclude, a plugin's query reads the slice without the five brownout operations
    still running when the brownout ended (all five failed): 40 failed of 95."""
    scenario = run_dir / "scenario.yaml"
    scenario.write_text(scenario.read_text() + "  - {name: settled-failed, metric: failed_share, phases: [brownout], "
                        "in_flight_at_end: exclude, at_most: 0.5}\n")  # fmt: skip
    slos = by_name(build_summary(run_dir)["slos"])
    assert slos["settled-failed"]["observed"] == pytest.approx(40 / 95)
    assert slos["settled-failed"]["excluded_in_flight"] == 5
    assert slos["brownout-failed"]["observed"] == 0.45
