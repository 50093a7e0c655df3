import xml.etree.ElementTree as ET

from harness.report.junit import render_junit


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
    message = cases["brownout-availability"].find("failure").get("message")
    assert message == "observed 0.55, expected at_least 0.99 over phases brownout"
    no_data = cases["cooldown-p95"].find("failure")
    assert no_data.get("type") == "no_data"
    assert no_data.get("message").startswith("no data:")


def test_names_are_escaped_by_the_xml_writer():
    summary = {"scenario": {"name": "x"}, "slos": [{"name": 'a<b "c"', "verdict": "fail", "message": "m & n"}]}
    case = ET.fromstring(render_junit(summary)).find("testcase")
    assert case.get("name") == 'a<b "c"'
    assert case.find("failure").get("message") == "m & n"
