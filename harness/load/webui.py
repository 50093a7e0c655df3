"""The Resilience tab of Locust's web UI: one table (plan, phase, faults, live availability, attempts per
operation, p95 per step, SLO states) injected into `/stats/requests`, which the UI polls, plus routes to
download the records and, once built, the report.

Locust 2.47's bundle renders `extended_tabs`/`extended_tables` from the template arguments and the rows
from `extended_stats` in the `/stats/requests` JSON; there is no other way to feed a tab.
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


Rows = Callable[[], list[dict[str, Any]]]


def register(
    web_ui: Any,
    rows: Rows,
    columns: list[dict[str, str]],
    run_dir: Path,
    start_refusal: Callable[[str], str | None] = lambda value: None,
) -> None:
    """`start_refusal(form value of --harness-scenario)`: a reason to refuse Start, shown by the form."""
    web_ui.template_args["extended_tabs"] = [{"title": "Resilience", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": columns}]
    web_ui.template_args["extended_csv_files"] = [
        {"href": "./resilience/records.zip", "title": "Download records (Parquet shards, zip)"},
        {"href": "./resilience/report", "title": "Report of the run (after it has ended)"},
        {"href": "./resilience/rows", "title": "Resilience view (JSON)"},
    ]

    @web_ui.app.after_request  # type: ignore[untyped-decorator]
    def _inject(response: Response) -> Response:
        if request.path.rstrip("/").endswith("/stats/requests") and response.is_json:
            body = response.get_json() or {}
            body["extended_stats"] = [{"key": TAB_KEY, "data": rows()}]
            response.set_data(json.dumps(body))
        return response

    @web_ui.app.before_request  # type: ignore[untyped-decorator]
    def _refuse_start() -> Any:
        if request.method == "POST" and request.path.rstrip("/").endswith("/swarm"):
            reason = start_refusal(request.form.get("harness_scenario", ""))
            if reason:  # Locust's form shows `message` when `success` is false
                return jsonify({"success": False, "message": reason, "host": web_ui.environment.host})
        return None

    bp = Blueprint("resilience", __name__)

    @bp.route("/resilience/rows")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _rows() -> Any:
        return jsonify({"rows": rows()})

    @bp.route("/resilience/records.zip")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _records() -> Any:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:  # Parquet is compressed already
            for path in sorted((run_dir / "records").glob("*.parquet")):
                zf.write(path, f"records/{path.name}")
        buffer.seek(0)
        return send_file(buffer, mimetype="application/zip", as_attachment=True, download_name="records.zip")

    @bp.route("/resilience/report")
    @web_ui.auth_required_if_enabled  # type: ignore[untyped-decorator]
    def _report() -> Any:
        report = run_dir / "report.html"
        if not report.exists():
            return Response(
                "The report is built when the run ends (stop the test, then Ctrl-C `harness ui`), "
                f"or at any time with `harness report {run_dir}`.\n",
                status=404,
                mimetype="text/plain",
            )
        return send_file(report, mimetype="text/html")

    web_ui.app.register_blueprint(bp)
