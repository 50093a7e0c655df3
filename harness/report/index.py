"""`reports/index.html`: the published front page, every run of a reports directory newest first.

Read from each run's summary.json (never from records, so the page costs milliseconds however large the
runs); a run without one (still going, or crashed before its report) is listed from its journal.
Comparison directories (`compare-*`, from `harness compare`) are listed below the runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.html import headline
from harness.report.htmlkit import badge, e, page, section, table, utc

INDEX_FILE = "index.html"
COMPARE_PAGE = "compare.html"


@dataclass(frozen=True)
class RunEntry:
    path: Path
    name: str
    started_at: float | None
    summary: dict[str, Any] | None
    journal: dict[str, Any] | None


def write_index(reports_dir: str | Path) -> Path:
    """(Re)write `<reports_dir>/index.html` and return its path."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    html = render_index(collect_runs(reports_dir), _comparisons(reports_dir))
    path = reports_dir / INDEX_FILE
    tmp = reports_dir / f".{INDEX_FILE}.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a page
    return path


def collect_runs(reports_dir: Path) -> list[RunEntry]:
    """Every run directory directly under `reports_dir`, newest first."""
    entries = []
    for child in reports_dir.iterdir():
        if not child.is_dir() or child.name.startswith((".", "compare-")):
            continue
        summary, journal = _read(child / "summary.json"), _read(child / "journal.json")
        if summary is None and journal is None:
            continue
        started = (summary or {}).get("started_at", (journal or {}).get("started_at"))
        started_at = float(started) if isinstance(started, int | float) else None
        entries.append(RunEntry(child, child.name, started_at, summary, journal))
    entries.sort(key=lambda r: (r.started_at or 0.0, r.name), reverse=True)
    return entries


def render_index(runs: list[RunEntry], comparisons: list[str]) -> str:
    rows = [_row(run) for run in runs]
    head = ["run", "scenario", "started", "status", "verdict", "SLOs held", "operations",
            "availability (operations)", "worst p99 (ms)", "worst time to recover (s)", "links"]  # fmt: skip
    body = [
        "<h1>Resilience reports</h1>",
        f'<p class="facts">{len(runs)} runs, newest first.</p>',
        table(head, rows, table_id="runs", numeric={5, 6, 7, 8, 9})
        if runs
        else '<p class="muted">No run yet: <code>harness run SCENARIO</code> writes one here.</p>',
    ]
    if comparisons:
        links = "".join(f'<li><a href="{e(c)}/{COMPARE_PAGE}">{e(c)}</a></li>' for c in comparisons)
        body.append(section("Comparisons", f'<ul id="comparisons">{links}</ul>'))
    return page("Resilience reports", body)


def _row(run: RunEntry) -> list[str]:
    summary, journal = run.summary, run.journal or {}
    links = [f'<a href="{e(run.name)}/{name}">{label}</a>'
             for name, label in (("report.html", "report"), ("notebook.html", "notebook"),
                                 ("summary.json", "summary.json"), ("junit.xml", "junit.xml"))
             if (run.path / name).is_file()]  # fmt: skip
    if summary is None:
        scenario = (journal.get("scenario") or {}).get("name")
        return [e(run.name), e(scenario), e(utc(run.started_at)), e(journal.get("status")), "—",
                "—", "—", "—", "—", "—", "no report yet"]  # fmt: skip
    numbers = dict(headline(summary))
    worst_p99 = next((v for k, v in numbers.items() if k.startswith("worst p99")), "—")
    worst_ttr = next((v for k, v in numbers.items() if k.startswith("worst time to recover")), "—")
    return [
        f'<a href="{e(run.name)}/report.html">{e(run.name)}</a>',
        e((summary.get("scenario") or {}).get("name")),
        e(utc(run.started_at)),
        e(summary.get("status")),
        badge(str(summary.get("verdict", "fail"))),
        e(numbers.get("SLOs held")),
        e(numbers.get("operations")),
        e(numbers.get("availability (operations)")),
        e(worst_p99),
        e(worst_ttr),
        " · ".join(links),
    ]


def _comparisons(reports_dir: Path) -> list[str]:
    found = [c.name for c in reports_dir.glob("compare-*") if (c / COMPARE_PAGE).is_file()]
    return sorted(found, reverse=True)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
