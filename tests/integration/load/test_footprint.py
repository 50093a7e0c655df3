"""Locust's statistics in a load process stay the same size however long the run: an hour of requests,
trimmed as the load process trims them (harness.load.footprint), leaves what a minute leaves, and every
figure Locust shows (totals, current rates, percentiles, failures) is what it would have been untrimmed.

Real Locust statistics; the hour is simulated in a child Python because importing Locust monkey-patches
the interpreter that imports it (gevent), which the test process must not be."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

from harness.load.footprint import HISTORY_KEEP, KEEP_SECONDS, TRIM_EVERY_S, trim_stats

SIMULATE = textwrap.dedent("""
    import json, sys
    from unittest import mock
    from locust.stats import RequestStats
    from harness.load.footprint import TRIM_EVERY_S, trim_stats, without_current_percentiles

    NAMES = ["client_credentials.token", "refresh_token.refresh", "OP client_credentials.journey"]
    T0 = 1_764_300_000

    def run_for(seconds, trim, headless=False):
        # seconds of a run at 7 requests a second per name, one failure in seven; trimmed as the greenlet does
        stats = RequestStats()
        if headless:
            without_current_percentiles(stats)
        stats.total.start_time = T0
        for s in range(seconds):
            now = T0 + s
            with mock.patch("locust.stats.time.time", return_value=now + 0.5):
                for k in range(7):
                    for name in NAMES:
                        stats.log_request("GET", name, 5 + (s * 7 + k) % 40, 10)
                        if k == 0:
                            stats.log_error("GET", name, "http_5xx (status 503)")
            if s % 5 == 0:
                stats.history.append({"time": now})  # what locust.stats.update_stats_history adds every 5 s
            if trim and s % int(TRIM_EVERY_S) == 0:
                trim_stats([*stats.entries.values(), stats.total], stats.history, now)
        return stats

    def figures(stats):
        out = {}
        for key, entry in [*((f"{m} {n}", e) for (n, m), e in stats.entries.items()), ("total", stats.total)]:
            with mock.patch("locust.stats.time.time", return_value=stats.total.last_request_timestamp):
                out[key] = {
                    "requests": entry.num_requests, "failures": entry.num_failures,
                    "current_rps": entry.current_rps, "current_fail_per_sec": entry.current_fail_per_sec,
                    "p95": entry.get_response_time_percentile(0.95),
                    "per_second_keys": len(entry.num_reqs_per_sec), "fail_keys": len(entry.num_fail_per_sec),
                    "cached_seconds": len(entry.response_times_cache or ()),
                }
        return {"entries": out, "errors": sorted(e.error for e in stats.errors.values()),
                "history": len(stats.history)}

    VARIANTS = {"trimmed": dict(trim=True), "whole": dict(trim=False), "headless": dict(trim=True, headless=True)}
    seconds = int(sys.argv[1])
    print(json.dumps({name: figures(run_for(seconds, **VARIANTS[name])) for name in sys.argv[2:]}))
""")


def simulate(seconds: int, *variants: str) -> dict[str, Any]:
    """`seconds` of each variant (trimmed, whole: never trimmed, headless: trimmed, without a web UI)."""
    done = subprocess.run([sys.executable, "-c", SIMULATE, str(seconds), *variants], capture_output=True,
                          text=True, timeout=300, check=True)  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_an_hour_of_requests_keeps_a_minute_of_per_second_counts_and_the_same_figures() -> None:
    found = simulate(3600, "trimmed", "whole")
    trimmed, whole = found["trimmed"], found["whole"]
    assert whole["entries"]["total"]["per_second_keys"] == 3600  # untrimmed: one key a second, for ever
    assert trimmed["entries"].keys() == whole["entries"].keys() and len(trimmed["entries"]) == 4
    for key, figures in trimmed["entries"].items():
        assert figures["per_second_keys"] <= KEEP_SECONDS + TRIM_EVERY_S + 1, key
        assert figures["fail_keys"] <= KEEP_SECONDS + TRIM_EVERY_S + 1, key
        same = {k: v for k, v in figures.items() if not k.endswith(("_keys", "_seconds"))}
        assert same == {k: v for k, v in whole["entries"][key].items() if not k.endswith(("_keys", "_seconds"))}, key
        assert figures["current_rps"] > 0 and figures["current_fail_per_sec"] > 0
    assert trimmed["errors"] == whole["errors"] != []
    assert trimmed["history"] == whole["history"] == 720  # an hour is inside the kept two


def test_without_a_web_ui_no_response_time_copies_are_kept_and_every_figure_stays() -> None:
    found = simulate(600, "headless", "trimmed")
    headless, trimmed = found["headless"], found["trimmed"]
    for key, figures in headless["entries"].items():
        assert figures["cached_seconds"] == 0 and trimmed["entries"][key]["cached_seconds"] > 10, key
        for name in ("requests", "failures", "current_rps", "current_fail_per_sec", "p95"):
            assert figures[name] == trimmed["entries"][key][name], (key, name)


def test_the_web_uis_chart_history_keeps_its_last_points() -> None:
    t0 = 1_764_300_000
    history = [{"time": t0 + 5 * k} for k in range(HISTORY_KEEP + 500)]
    assert trim_stats([], history, t0) == 500
    assert len(history) == HISTORY_KEEP and history[-1]["time"] == t0 + 5 * (HISTORY_KEEP + 499)
    assert trim_stats([], history, t0) == 0
