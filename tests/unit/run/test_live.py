"""The live view reads the same records with the same functions as the report: its SLO numbers equal the
summary's for the same records, its window figures say which window they cover, and the console prints
them as one line per interval (text or JSON), or nothing with --quiet."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.summary import build_summary
from harness.run.console import Console, progress_line
from harness.run.live import SERIES_HORIZON_S, WINDOW_S, LiveView, current_phase
from harness.scenario import load_scenario
from tests.unit.analysis.synthetic import T0, write_run


@pytest.fixture
def live(tmp_path: Path) -> tuple[LiveView, dict[str, Any], Path]:
    run_dir = write_run(tmp_path)
    view = LiveView(run_dir, load_scenario(run_dir / "scenario.yaml"))
    assert view.poll() == 300 + 410  # every operation and attempt of the synthetic run
    return view, json.loads((run_dir / "journal.json").read_text()), run_dir


def test_live_slos_are_the_reports_slos_for_the_same_records(live) -> None:
    view, journal, run_dir = live
    slos = {s["name"]: s for s in view.judge_slos(journal, T0 + 40)}
    report = {s["name"]: s for s in build_summary(run_dir)["slos"]}
    assert set(slos) == set(report)
    for name, slo in report.items():
        assert slos[name]["observed"] == slo["observed"], name
        assert slos[name]["interval"] == slo["interval"], name
        assert slos[name]["verdict"] == slo["verdict"], name
    assert slos["brownout-availability"]["state"] == "violated"
    assert slos["availability"]["state"] == "holding"


def test_the_live_view_keeps_only_its_horizon_in_memory_and_judges_from_the_files(live) -> None:
    view, journal, _ = live
    horizon = max(WINDOW_S, SERIES_HORIZON_S) + 2.0
    for kind, every in (("operations", 300), ("attempts", 410)):
        frame = view.records.frames[kind]
        assert 0 < len(frame) < every  # the 30 s run is not held whole
        assert frame["ts"].max() - frame["ts"].min() <= horizon
    slos = view.judge_slos(journal, T0 + 40)
    assert {s["name"]: s["observed"] for s in slos}["availability"] is not None  # every record, from the files
    assert view.judge_slos(journal, T0 + 41) is slos  # a judgement stands for JUDGE_COST_FACTOR times its cost
    assert view.slos_at == T0 + 40


def test_the_window_figures_cover_the_last_seconds_of_records(live) -> None:
    view, journal, _ = live
    latest = view.latest(journal, T0 + 40, window_s=5.0)
    # the last 5 s of records: seconds 25..29 of the recovery, every operation ok, 10 a second
    assert latest["window_s"] == 5.0 and latest["ops_per_s"] == pytest.approx(10.0, abs=0.2)
    assert latest["availability"]["operation"] == 1.0
    low, high = latest["availability"]["operation_interval"]
    assert low < 0.95 and high == 1.0  # Wilson: 50 ok of 50 still leaves room below 100%
    assert latest["elapsed_s"] == pytest.approx(40.0)
    assert latest["phase"] == "cooldown"


def test_series_leave_out_seconds_without_records(live) -> None:
    view, _, _ = live
    series = view.series(T0)
    assert series["t"][-1] == 29  # nothing after second 29: no point, so no line drawn across the gap
    assert series["availability_operation"][series["t"].index(25)] == 1.0


def test_console_line_text_json_and_quiet() -> None:
    latest = {"elapsed_s": 85.2, "phase": "brownout", "window_s": 5.0, "req_per_s": 41.84, "ops_per_s": 30.0,
              "availability": {"operation": 0.99, "operation_interval": [0.97, 0.997], "attempt": 0.861},
              "p95_ms": 312.44}  # fmt: skip
    slos: list[dict[str, Any]] = [
        {"name": "avail", "metric": "availability", "state": "holding", "observed": 0.99,
         "threshold": {"at_least": 0.98}},
        {"name": "amp", "metric": "attempts_per_operation", "state": "violated", "observed": 1.71,
         "threshold": {"at_most": 1.6}},
        {"name": "ttr", "metric": "time_to_recover_s", "state": "pending", "observed": None, "threshold": {}},
    ]  # fmt: skip
    line = progress_line(latest, slos)
    assert line.startswith("  01:25 brownout")
    assert "41.8 req/s" in line and "ops 99% [97%, 99.7%]" in line and "attempts 86.1%" in line
    assert "p95 312.4 ms (last 5 s)" in line
    assert "avail holding 99%" in line and "amp VIOLATED 1.71 attempts/op (objective ≤ 1.6 attempts/op)" in line
    assert "ttr pending" in line and "\n" not in line

    out = io.StringIO()
    Console(mode="json", out=out).progress(latest, slos)
    parsed = json.loads(out.getvalue())
    assert parsed["kind"] == "progress" and parsed["req_per_s"] == 41.84
    assert [s["state"] for s in parsed["slos"]] == ["holding", "violated", "pending"]

    quiet = io.StringIO()
    Console(mode="quiet", out=quiet).progress(latest, slos)
    Console(mode="quiet", out=quiet).event({"kind": "phase_start", "phase": "x", "ts": T0, "asked_at": T0})
    assert quiet.getvalue() == ""


def test_current_phase_is_the_last_one_started() -> None:
    assert current_phase({"phases": [{"name": "a", "end": 2.0}, {"name": "b", "end": None}]}) == "b"
    assert current_phase({}) == ""


def test_series_keep_their_last_seconds_only(live) -> None:
    view, _, run_dir = live
    short = LiveView(run_dir, view.scenario, series_keep_s=10)
    short.poll()
    series = short.series(T0)
    assert series["t"] == list(range(20, 30))  # the last ten seconds with records, 20..29
    assert len(series["p95_ms"]) == 10


def test_live_slos_leave_out_in_flight_records_as_the_report_does_or_say_they_cannot_yet(tmp_path: Path) -> None:
    """The brownout's last five operations ran past its end (synthetic run): once the journal says it ended,
    the live SLO leaves them out as the report will; while it runs, it says none could be left out yet."""
    from harness.run.live import display

    run_dir = write_run(tmp_path)
    scenario = run_dir / "scenario.yaml"
    scenario.write_text(scenario.read_text().rstrip("\n") + "\n  - {name: settled, metric: availability, "
                        "phases: [brownout], in_flight_at_end: exclude, at_least: 0.5}\n")  # fmt: skip
    journal = json.loads((run_dir / "journal.json").read_text())
    view = LiveView(run_dir, load_scenario(scenario))
    view.poll()
    ended = {s["name"]: s for s in view.judge_slos(journal, T0 + 40)}["settled"]
    report = {s["name"]: s for s in build_summary(run_dir)["slos"]}["settled"]
    assert ended["excluded_in_flight"] == report["excluded_in_flight"] == 5
    assert ended["observed"] == report["observed"]
    running = dict(journal, ended_at=None, phases=journal["phases"][:2])
    del running["phases"][1]["end"]
    view = LiveView(run_dir, load_scenario(scenario))
    view.poll()
    slos = view.judge_slos(running, T0 + 19)
    now = {s["name"]: s for s in slos}["settled"]
    assert now["excluded_in_flight"] == 0
    assert "phase brownout has not ended: none of its records left out" in now["message"]
    shown = {s["name"]: s for s in display(view.latest(running, T0 + 19), slos)["slos"]}["settled"]
    assert shown["note"] == "phase brownout has not ended: none of its records left out"
