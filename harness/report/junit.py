"""`junit.xml`: each SLO as a test case, so a CI system shows which objectives held and which did not.

One `<testsuite name="harness.<scenario>">`, one `<testcase classname="slo" name="<slo>">` per SLO, whose
`time` is the duration of the phases it judges (the whole run for an SLO over all phases). Each case
carries what was observed: its properties (observed value, interval and method, objective, phases and
their duration) and a `<system-out>` line as the console prints it; a failed SLO and an SLO with no data
both carry a `<failure>` whose message is that line. Read from the summary dict only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report import wording

JUNIT_FILE = "junit.xml"


def render_junit(summary: Mapping[str, Any]) -> bytes:
    scenario = (summary.get("scenario") or {}).get("name", "unknown")
    slos = list(summary.get("slos") or [])
    failed = [s for s in slos if s.get("verdict") != "pass"]
    suite = ET.Element(
        "testsuite",
        {
            "name": f"harness.{scenario}",
            "tests": str(len(slos)),
            "failures": str(len(failed)),
            "errors": "0",
            "skipped": "0",
            "time": _seconds(summary.get("duration_s")),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for key in ("run_id", "status", "exit_code", "verdict"):
        ET.SubElement(properties, "property", {"name": key, "value": str(summary.get(key))})
    for slo in slos:
        duration = phases_duration_s(summary, slo.get("phases"))
        case = ET.SubElement(
            suite, "testcase", {"classname": "slo", "name": str(slo.get("name")), "time": _seconds(duration)}
        )
        case_properties = ET.SubElement(case, "properties")
        for key, text in _facts(slo, duration).items():
            ET.SubElement(case_properties, "property", {"name": key, "value": text})
        line = wording.slo_line(slo)
        if slo.get("verdict") != "pass":
            failure = ET.SubElement(case, "failure", {"message": line, "type": str(slo.get("verdict"))})
            failure.text = str(slo.get("message"))
        ET.SubElement(case, "system-out").text = line
    ET.indent(suite)
    xml: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def write_junit(summary: Mapping[str, Any], run_dir: str | Path) -> Path:
    path = Path(run_dir) / JUNIT_FILE
    path.write_bytes(render_junit(summary))
    return path


def phases_duration_s(summary: Mapping[str, Any], names: Any) -> float | None:
    """How long the named phases (all of them for None) ran; None when none of them has a duration."""
    phases = summary.get("phases") or {}
    wanted = names if names else list(phases)
    durations = [(phases.get(n) or {}).get("duration_s") for n in wanted]
    known = [d for d in durations if isinstance(d, int | float)]
    return float(sum(known)) if known else None


def _facts(slo: Mapping[str, Any], duration: float | None) -> dict[str, str]:
    metric = str(slo.get("metric"))
    interval = slo.get("interval")
    return {
        "metric": f"{metric} ({slo.get('scope')} scope)",
        "observed": "" if slo.get("observed") is None else repr(slo.get("observed")),
        "observed_text": wording.value(metric, slo.get("observed")),
        "interval": "" if not interval else f"{interval[0]} {interval[1]}",
        "interval_method": wording.method(slo.get("interval_method")),
        "interval_crosses_objective": str(bool(slo.get("crosses_threshold"))).lower(),
        "objective": wording.threshold(metric, slo.get("threshold") or {}),
        "phases": ", ".join(slo.get("phases") or ["all"]),
        "phases_duration_s": "" if duration is None else f"{duration:.3f}",
        "in_flight_at_end": str(slo.get("in_flight_at_end") or "count"),
        "excluded_in_flight": "" if slo.get("excluded_in_flight") is None else str(slo.get("excluded_in_flight")),
    }


def _seconds(value: Any) -> str:
    return f"{float(value):.3f}" if isinstance(value, int | float) else "0"
