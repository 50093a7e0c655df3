"""The report's "Load" section: where the target and the proxy listened (`harness run --listen`), and every
load worker that joined (host, pid, cores, harness version), with the records the run holds of each and
the span missing for one lost or whose records did not all come home. Reads the summary dict only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.report.htmlkit import badge, e, number, relative, table


def shown(summary: Mapping[str, Any]) -> bool:
    listen = summary.get("listen")
    return bool(summary.get("workers")) or (listen is not None and listen not in ("127.0.0.1", "::1"))


def load_section(summary: Mapping[str, Any]) -> str:
    listen = summary.get("listen") or "127.0.0.1"
    where = "loopback only" if listen in ("127.0.0.1", "::1") else "given by --listen"
    out = [f'<p id="listen">Target and proxy listened on <code>{e(listen)}</code> ({where}).</p>']
    workers = summary.get("workers") or []
    if not workers:
        return out[0] + '<p class="muted">One load process, no worker.</p>'
    t0 = summary.get("test_start")
    rows = []
    for w in workers:
        records = w.get("records") or {}
        missing = w.get("missing_s")
        lost = w.get("lost") or {}
        rows.append([
            e(w.get("node")), e("remote" if w.get("remote") else "local"), e(w.get("host")), e(w.get("pid")),
            e(w.get("cores")), e(w.get("version")), e(relative(w.get("joined_at"), t0)),
            number(records.get("attempts"), 0), number(records.get("operations"), 0),
            e(relative(lost.get("at"), t0)) if lost else "",
            badge("pass" if w.get("complete") else "fail", "all" if w.get("complete") else "incomplete"),
            e(f"{missing[0]:g}-{missing[1]:g} s") if missing else "",
        ])  # fmt: skip
    head = ["node", "where", "host", "pid", "cores", "harness", "joined (s)", "attempts", "operations", "lost (s)",
            "records", "missing"]  # fmt: skip
    return out[0] + table(head, rows, table_id="workers", numeric={3, 4, 6, 7, 8, 9})
