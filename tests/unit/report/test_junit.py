import xml.etree.ElementTree as ET

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
    assert message == "observed 0.55, expected at_least 0.99 over phases brownout"
    no_data = child(cases["cooldown-p95"], "failure")
    assert no_data.get("type") == "no_data"
    no_data_message = no_data.get("message")
    assert no_data_message is not None and no_data_message.startswith("no data:")


def test_names_are_escaped_by_the_xml_writer():
    summary = {"scenario": {"name": "x"}, "slos": [{"name": 'a<b "c"', "verdict": "fail", "message": "m & n"}]}
    case = child(ET.fromstring(render_junit(summary)), "testcase")
    assert case.get("name") == 'a<b "c"'
    assert child(case, "failure").get("message") == "m & n"
