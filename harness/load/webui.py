"""The web UI as a first-class view of a test: Locust's own page plus the Resilience tab.

- The tab's table is injected into `/stats/requests`, which Locust's page polls (Locust 2.47's bundle renders
  `extended_tabs`/`extended_tables` from the template arguments and the rows from `extended_stats`; there is
  no other way to feed a tab).
- `static/resilience.js` (our own code, no library, nothing from a CDN) is added to Locust's index page: it
  opens the start form's custom parameters so the scenario picker is in sight and fills users and ramp-up
  from the chosen scenario, draws the tab's live charts and coloured SLO table above Locust's table, shades
  the fault windows on Locust's own charts, and shows the verdict and report of a test that ended.
- Its data: `/resilience/live` (the current test's live.json, written by the orchestrator with the report's
  own functions), `/resilience/choices` (the form's scenarios), and per test `/resilience/report?run=ID`
  and `/resilience/records.zip?run=ID`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file

TAB_KEY = "resilience"
SCRIPT = Path(__file__).with_name("static") / "resilience.js"

Rows = Callable[[], list[dict[str, Any]]]


class RunDirs:
    """Where the web UI finds a test's files: the current (or last) test, or one named by its run id."""

    def __init__(self, current: Callable[[], Path | None], by_id: Callable[[str], Path | None]):
        self.current, self.by_id = current, by_id

    def pick(self) -> Path | None:
        run = request.args.get("run")
        return self.by_id(run) if run else self.current()


def register(
    web_ui: Any,
    rows: Rows,
    columns: list[dict[str, str]],
    tests: RunDirs,
    live: Callable[[], dict[str, Any] | None],
    choices: Callable[[], list[dict[str, Any]]],
) -> None:
    web_ui.template_args["extended_tabs"] = [{"title": "Resilience", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": columns}]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./resilience/records.zip", "title": "Records of the last test (Parquet shards, zip)"},
        {"href": "./resilience/report", "title": "Report of the last test (once it has ended)"},
        {"href": "./resilience/live", "title": "Live figures of the last test (JSON)"},
    ]

    @web_ui.app.after_request  # type: ignore[untyped-decorator]
    def _inject(response: Response) -> Response:
        path = request.path.rstrip("/")
        if path.endswith("/stats/requests") and response.is_json:
            body = response.get_json() or {}
            body["extended_stats"] = [{"key": TAB_KEY, "data": rows()}]
            response.set_data(json.dumps(body))
        elif path in ("", "/index.html") and response.mimetype == "text/html" and not response.direct_passthrough:
            page = response.get_data(as_text=True)
            if "</head>" in page:  # our script, after Locust's own
                tag = '<script src="./resilience/ui.js" defer></script>'
                response.set_data(page.replace("</head>", f"{tag}</head>", 1))
        return response

    bp = Blueprint("resilience", __name__)

    @bp.route("/resilience/ui.js")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _script() -> Any:
        return Response(SCRIPT.read_text(encoding="utf-8"), mimetype="text/javascript")

    @bp.route("/resilience/live")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _live() -> Any:
        return jsonify(live() or {})

    @bp.route("/resilience/choices")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _choices() -> Any:
        return jsonify({"choices": choices()})

    @bp.route("/resilience/rows")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _rows() -> Any:
        return jsonify({"rows": rows()})

    @bp.route("/resilience/records.zip")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _records() -> Any:
        run_dir = tests.pick()
        if run_dir is None:
            return Response("No test has run yet.\n", status=404, mimetype="text/plain")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:  # Parquet is compressed already
            records = run_dir / "records"  # shards, or the compacted files and their manifest
            for path in sorted(p for p in records.rglob("*") if p.is_file() and not p.name.startswith(".")):
                zf.write(path, f"records/{path.relative_to(records).as_posix()}")
        buffer.seek(0)
        name = f"{run_dir.name}-records.zip"
        return send_file(buffer, mimetype="application/zip", as_attachment=True, download_name=name)

    @bp.route("/resilience/report")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _report() -> Any:
        run_dir = tests.pick()
        report = run_dir / "report.html" if run_dir is not None else None
        if report is None or not report.exists():
            where = f" (`harness report {run_dir}` rebuilds it)" if run_dir is not None else ""
            return Response(
                f"The report of a test is written when the test ends{where}.\n", status=404, mimetype="text/plain"
            )
        return send_file(report, mimetype="text/html")

    web_ui.app.register_blueprint(bp)
