import xml.etree.ElementTree as ET

import pytest

from harness.report import wording
from harness.report.junit import render_junit


def child(element: ET.Element, tag: str) -> ET.Element:
    """The first `tag` child, where the test expects one."""
    found = element.find(tag)
    assert found is not None, f"no <{tag}> in <{element.tag}>"
    return found


def test_one_testcase_per_slo_with_failures_where_expected(built):
    suite = ET.parse(built.junit_xml).getroot()
    assert suite.tag == "testsuite"
    assert suite.get("name") == "harness.synthetic"
    assert (suite.get("tests"), suite.get("failures")) == ("7", "3")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == [s["name"] for s in built.summary["slos"]]
    assert {case.get("classname") for case in cases.values()} == {"slo"}
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == {"brownout-availability", "retry-amplification", "cooldown-p95"}
    message = child(cases["brownout-availability"], "failure").get("message")
    assert message == "FAIL     brownout-availability: 55% [45.24%, 64.39%] (Wilson 95%); objective ≥ 99% over brownout"
    no_data = child(cases["cooldown-p95"], "failure")
    assert no_data.get("type") == "no_data"
    no_data_message = no_data.get("message")
    assert no_data_message is not None and "no data: no attempt latency samples" in no_data_message


def test_names_are_escaped_by_the_xml_writer():
    summary = {"scenario": {"name": "x"}, "slos": [{"name": 'a<b "c"', "verdict": "fail", "message": "m & n"}]}
    case = child(ET.fromstring(render_junit(summary)), "testcase")
    assert case.get("name") == 'a<b "c"'
    failure = child(case, "failure")
    assert failure.text == "m & n" and 'a<b "c"' in (failure.get("message") or "")


def test_each_case_carries_its_observed_value_and_its_phases_duration(built):
    """A passing case says what was observed too (CI shows only the XML), and its time is the duration of
    the phases it judged, not 0."""
    suite = ET.parse(built.junit_xml).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    ok = cases["availability"]
    props = {p.get("name"): p.get("value") for p in child(ok, "properties").iter("property")}
    slo = next(s for s in built.summary["slos"] if s["name"] == "availability")
    assert props["observed"] == repr(slo["observed"])
    assert props["interval_method"] == "Wilson 95%"
    durations = {n: p["duration_s"] for n, p in built.summary["phases"].items()}
    expected = sum(durations[n] for n in slo["phases"])
    assert float(ok.get("time") or 0) == pytest.approx(expected, abs=1e-3) and expected > 0
    assert float(props["phases_duration_s"] or "nan") == pytest.approx(expected, abs=1e-3)
    assert child(ok, "system-out").text == wording.slo_line(slo)
