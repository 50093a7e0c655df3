"""`junit.xml`: each SLO as a test case, so a CI system shows which objectives held and which did not.

One `<testsuite name="harness.<scenario>">`, one `<testcase classname="slo" name="<slo>">` per SLO; a
failed SLO and an SLO with no data both carry a `<failure>` whose message says what was observed.
Read from the summary dict only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    for key in ("run_id", "status", "verdict"):
        ET.SubElement(properties, "property", {"name": key, "value": str(summary.get(key))})
    for slo in slos:
        case = ET.SubElement(suite, "testcase", {"classname": "slo", "name": str(slo.get("name")), "time": "0"})
        if slo.get("verdict") != "pass":
            failure = ET.SubElement(
                case, "failure", {"message": str(slo.get("message")), "type": str(slo.get("verdict"))}
            )
            failure.text = _detail(slo)
    ET.indent(suite)
    xml: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def write_junit(summary: Mapping[str, Any], run_dir: str | Path) -> Path:
    path = Path(run_dir) / JUNIT_FILE
    path.write_bytes(render_junit(summary))
    return path


def _detail(slo: Mapping[str, Any]) -> str:
    phases = ", ".join(slo.get("phases") or ["all"])
    lines = [
        f"metric: {slo.get('metric')} ({slo.get('scope')} scope)",
        f"phases: {phases}",
        f"threshold: {slo.get('threshold')}",
        f"observed: {slo.get('observed')}",
    ]
    if slo.get("interval"):
        lines.append(f"95% interval: {slo.get('interval')}")
    return "\n".join(lines)


def _seconds(value: Any) -> str:
    return f"{float(value):.3f}" if isinstance(value, int | float) else "0"
