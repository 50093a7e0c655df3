"""Small HTML pieces shared by the run report, the index page and the comparison page.

Every cell helper returns escaped HTML; values from files (names, descriptions, journal details) never
reach a page unescaped. Pages are self-contained: inline CSS, images as data URIs, no script.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 2rem auto;
       max-width: 82rem; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { margin-top: 1.4rem; } .description { color: #444; margin-top: 0; }
.facts { color: #555; font-size: 13px; }
.badge { display: inline-block; padding: .1rem .55rem; border-radius: .8rem; font-weight: 600;
         font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
h1 .badge { font-size: 15px; vertical-align: middle; margin-left: .6rem; }
.pass { background: #dff3e4; color: #14632d; } .fail { background: #fbe0e0; color: #8a1414; }
.no_data { background: #fff1cc; color: #7a5200; }
.banner { border: 2px solid #c77700; background: #fff7e6; padding: .6rem 1rem; border-radius: .4rem; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; margin: .8rem 0; }
.card { border: 1px solid #e2e2e2; border-radius: .4rem; padding: .5rem .8rem; min-width: 9rem; }
.card .value { display: block; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .label { display: block; color: #666; font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: 13px; }
th, td { border-bottom: 1px solid #e5e5e5; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.muted { color: #777; } figure { margin: 1rem 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; } nav a { margin-right: .8rem; }
.ci { display: block; color: #666; font-size: 11px; white-space: nowrap; }
.uncertain { display: inline-block; margin-top: .2rem; color: #7a5200; background: #fff1cc; font-size: 11px;
             border-radius: .6rem; padding: 0 .45rem; white-space: nowrap; }
.incomplete { background: #fff1cc; color: #7a5200; }
.question { font-size: 15px; margin: .3rem 0; } .hypothesis { color: #333; }
.warning { border: 2px solid #b00020; background: #fdecee; padding: .6rem 1rem; border-radius: .4rem; }
#tested td:first-child { white-space: nowrap; color: #444; width: 12rem; }
"""


def page(title: str, body: Iterable[str]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        *body,
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def section(title: str, body: str, section_id: str | None = None, level: int = 2) -> str:
    sid = f' id="{escape(section_id)}"' if section_id else ""
    return f"<section{sid}><h{level}>{escape(title)}</h{level}>{body}</section>"


def table(head: list[str], rows: Iterable[list[str]], *, table_id: str, numeric: set[int]) -> str:
    """Cells are already escaped HTML."""
    thead = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f'<table id="{escape(table_id)}"><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>'


def cards(items: Iterable[tuple[str, str]], cards_id: str) -> str:
    """Headline numbers: (label, value) pairs, both plain text."""
    inner = "".join(
        f'<div class="card"><span class="value">{e(value)}</span><span class="label">{e(label)}</span></div>'
        for label, value in items
    )
    return f'<div class="cards" id="{escape(cards_id)}">{inner}</div>'


def figure(name: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="figure-{e(name)}"><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def badge(verdict: str, text: str | None = None) -> str:
    css = verdict if verdict in ("pass", "fail", "no_data", "incomplete") else "fail"
    return f'<span class="badge {css}">{escape(text or verdict.replace("_", " "))}</span>'


def e(value: Any) -> str:
    return escape("—" if value is None else str(value))


def number(value: Any, decimals: int) -> str:
    """At most `decimals` decimals, trailing zeros dropped: 1000 stays 1000, 0.5500 is 0.55."""
    if value is None:
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = f"{float(value):.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def signed(value: Any, decimals: int) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    text = number(value, decimals)
    return text if text.startswith("-") or text == "0" else f"+{text}"


def interval(bounds: Any, decimals: int = 4, sign: bool = False) -> str:
    if not bounds:
        return ""
    fmt = signed if sign else number
    return f" [{fmt(bounds[0], decimals)}, {fmt(bounds[1], decimals)}]"


def percent(value: Any, decimals: int = 2) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{number(value * 100.0, decimals)}%"


def counts(mapping: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (mapping or {}).items()) or "—"


def relative(ts: Any, t0: Any) -> str:
    if not isinstance(ts, int | float) or not isinstance(t0, int | float):
        return "—"
    return f"{ts - t0:+.3f}"


def utc(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def threshold(bound: Mapping[str, Any]) -> str:
    if "at_least" in bound:
        return f"≥ {number(bound['at_least'], 6)}"
    if "at_most" in bound:
        return f"≤ {number(bound['at_most'], 6)}"
    return "?"
