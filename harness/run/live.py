"""The live numbers of a running test, computed once for the console line, `--progress json`, the web UI's
Resilience tab (`live.json` in the run directory) and the stop conditions.

Everything here is the analysis package's own functions on the records written so far, in bounded memory:
- the "last N s" figures (request rate, availability of operations and attempts with their Wilson
  intervals, p95) are `metrics` functions over the records of the last `window_s` seconds of data, the
  only rows held in memory (`watch.LiveRecords`, a rolling horizon), and say which window they cover;
- the SLO states are `analysis.slo.evaluate_slos` over every record so far, read where it lies: a run opened
  on the shards written so far (`analysis.frames.open_run`, DuckDB scans, as `harness report` reads them),
  phases and faults placed from the journal as the report places them: the number a live SLO shows is the
  number the report will show for the same records (a state reads "pending" where the report needs more
  time, such as a recovery whose window has not closed; an SLO leaving out records in flight at the end of
  their phase leaves out those of the phases the journal says have ended, and says that a running phase's
  cannot be known yet). A judgement scans the whole run so far, so it is
  made again only after JUDGE_COST_FACTOR times as long as the last one took (on one DuckDB thread):
  a long run's live SLOs cost at most a share of a core, and say when they were judged (`slos_at`);
- the per-second series of the charts are `metrics.*_series` over `metrics.per_second` tables of the
  horizon, the report's figures' own definitions.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis import metrics
from harness.analysis.frames import Run, fault_label, open_run, step_operations
from harness.analysis.recovery import fault_recoveries, recovery_window
from harness.analysis.slo import evaluate_slos
from harness.analysis.slo import slices as slo_slices
from harness.analysis.summary import json_safe
from harness.report import wording
from harness.run.console import progress_line
from harness.run.watch import LiveRecords
from harness.scenario import Scenario

LIVE_FILE = "live.json"
WINDOW_S = 5.0
SERIES_HORIZON_S = 15.0  # windows younger than this are recomputed at each tick (late shards land in them)
# The charts' per-second points kept (and written to live.json each tick): the last hour. A longer run's
# whole curve is in its partial reports and in Prometheus (/metrics); an unbounded series would grow the
# orchestrator and the file rewritten every second with the run's length (a day: 86,400 points).
SERIES_KEEP_S = 3600
STATES = {"pass": "holding", "fail": "violated", "no_data": "no data yet"}
JUDGE_COST_FACTOR = 5.0  # the SLOs are judged again only after 5 times as long as the last judgement took
JUDGE_THREADS = 1  # DuckDB threads for a judgement: the load generators have the other core


def import_ahead() -> None:
    """Import now what the live view and the report import on first use. While a run runs, a signal raises
    Interrupted wherever the main thread is; inside an import it leaves a half-built module in sys.modules,
    and the report built after it fails (seen: SIGHUP during the first judgement's lazy scipy import, then
    "NameError: name '_ndimage_api' is not defined" and a run reported as crashed). The orchestrator calls
    this before it turns signals into exceptions."""
    import duckdb  # noqa: F401
    import scipy.stats  # noqa: F401

    from harness.analysis import per_second, statistics, summary  # noqa: F401
    from harness.report import build, export, figure_data, html, junit  # noqa: F401


class LiveView:
    def __init__(self, run_dir: Path, scenario: Scenario, horizon_s: float = WINDOW_S,
                 series_keep_s: int = SERIES_KEEP_S):  # fmt: skip
        self.run_dir, self.scenario, self.series_keep_s = run_dir, scenario, series_keep_s
        self.records = LiveRecords(run_dir / "records", horizon_s=max(horizon_s, SERIES_HORIZON_S) + 2.0)
        self._series: dict[int, dict[str, float | None]] = {}
        self.slos: list[dict[str, Any]] = []
        self.slos_at: float | None = None
        self._next_judgement = 0.0  # time.monotonic() before which the last judgement stands

    def poll(self) -> int:
        return self.records.poll()

    # --- the last seconds ---------------------------------------------------------------------------

    def latest(self, journal: dict[str, Any], now: float, window_s: float = WINDOW_S) -> dict[str, Any]:
        """Elapsed time, phase, and the figures of the last `window_s` seconds of records."""
        until = self.records.newest_ts if self.records.newest_ts is not None else now
        since = until - window_s
        attempts = self.records.window("attempts", since, until)
        ops = self.records.window("operations", since, until)
        t0 = journal.get("test_start")
        return {
            "ts": now,
            "elapsed_s": None if not isinstance(t0, int | float) else max(0.0, now - t0),
            "phase": current_phase(journal),
            "window_s": window_s,
            "req_per_s": len(attempts) / window_s,
            "ops_per_s": len(ops) / window_s,
            "availability": {
                "operation": metrics.availability(ops),
                "operation_interval": metrics.availability_interval(ops),
                "attempt": metrics.availability(attempts),
                "attempt_interval": metrics.availability_interval(attempts),
            },
            "p95_ms": metrics.latency_percentile(ops, 95.0),
        }

    # --- the SLOs so far ----------------------------------------------------------------------------

    def judge_slos(self, journal: dict[str, Any], now: float) -> list[dict[str, Any]]:
        """Every SLO over the records so far, with its live state (the last judgement's while it stands)."""
        if time.monotonic() < self._next_judgement:
            return self.slos
        began = time.monotonic()
        with open_run(self.run_dir, self.scenario, journal, threads=JUDGE_THREADS) as run:
            run.stats.prepare(slo_slices(run))
            recoveries = fault_recoveries(run)
            started = {p.name for p in run.phases if p.start is not None}
            out = []
            for result in evaluate_slos(run, recoveries):
                row = result.as_dict()
                state = STATES[result.verdict]
                if result.phases is not None and not started & set(result.phases):
                    state = "waiting"
                elif result.metric == "time_to_recover_s" and self._recovery_open(run, result.phases, now):
                    state = "pending"
                row["state"] = state
                out.append(row)
        self._next_judgement = began + JUDGE_COST_FACTOR * (time.monotonic() - began)
        self.slos, self.slos_at = json_safe(out), now
        return self.slos

    def _recovery_open(self, run: Run, phases: tuple[str, ...] | None, now: float) -> bool:
        """Whether a fault of these phases is still on, or its recovery window has not closed yet."""
        in_scope = [f for f in run.faults if phases is None or f.phase in phases]
        planned = [p for p in run.phases if (phases is None or p.name in phases) and p.faults]
        if any(p.end is None for p in planned) or any(f.removed_at is None for f in in_scope):
            return True
        return any(recovery_window(run, f)[1] >= run.data_end - 1.0 for f in in_scope)

    # --- per-second series, for the charts ----------------------------------------------------------

    def series(self, t0: float) -> dict[str, list[Any]]:
        """Per second since t0, for the last `series_keep_s` seconds: availability of operations and attempts,
        operation p95 and attempts per operation (seconds without records are left out: a chart draws no
        line across them)."""
        frames = self.records.frames
        ops = step_operations(frames["operations"])
        newest = self.records.newest_ts
        if newest is not None and not ops.empty:
            oldest = math.floor(newest - SERIES_HORIZON_S - t0)
            recent = metrics.per_second(ops[ops["ts"] >= t0 + oldest], t0)
            att = metrics.per_second(frames["attempts"][frames["attempts"]["ts"] >= t0 + oldest], t0)
            table = pd.concat(
                [
                    metrics.availability_series(recent).rename("availability_operation"),
                    metrics.availability_series(att).rename("availability_attempt"),
                    metrics.latency_series(recent, ["p95"])["p95"].rename("p95_ms"),
                    metrics.attempts_per_operation_series(recent),
                ],
                axis=1,
            )
            for window, row in table.iterrows():
                if int(window) >= oldest:
                    self._series[int(window)] = {k: _num(v) for k, v in row.items()}
        if len(self._series) > self.series_keep_s:
            cut = max(self._series) - self.series_keep_s
            for old in [k for k in self._series if k <= cut]:
                del self._series[old]
        keys = sorted(k for k in self._series if k >= 0)
        names = ("availability_operation", "availability_attempt", "p95_ms", "attempts_per_operation")
        return {"t": keys, **{n: [self._series[k].get(n) for k in keys] for n in names}}

    # --- the tab's file -----------------------------------------------------------------------------

    def write(self, journal: dict[str, Any], now: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """live.json in the run directory (replaced whole, so a reader never sees half of it)."""
        t0 = journal.get("test_start")
        t0 = float(t0) if isinstance(t0, int | float) else now
        latest = self.latest(journal, now)
        phases = [p for p in journal.get("phases") or [] if isinstance(p, dict)]
        faults = [f for f in journal.get("faults") or [] if isinstance(f, dict) and f.get("applied_at") is not None]
        state = {
            "run_id": journal.get("run_id"),
            "scenario": self.scenario.name,
            "t0": t0,
            "latest": latest,
            "display": display(latest, self.slos),
            "phases": [_span(p.get("name"), p.get("start"), p.get("end"), t0) for p in phases],
            "faults": [
                _span(f.get("id"), f.get("applied_at"), f.get("removed_at"), t0)
                | {"label": fault_label({"type": f.get("type"), **(f.get("spec") or {})}), "type": f.get("type")}
                for f in faults
            ],
            "series": self.series(t0),
            "slos": self.slos,
            "slos_at": self.slos_at,
            **(extra or {}),
        }
        safe: dict[str, Any] = json_safe(state)
        path = self.run_dir / LIVE_FILE
        tmp = path.with_name(f".{LIVE_FILE}.tmp")
        tmp.write_text(json.dumps(safe), encoding="utf-8")
        os.replace(tmp, path)
        return safe


def display(latest: dict[str, Any], slos: list[dict[str, Any]]) -> dict[str, Any]:
    """The live figures as the console prints them (harness.report.wording), for the web UI to show as
    they are: one wording, wherever a number appears."""
    avail = latest.get("availability") or {}
    ops_interval = wording.interval("availability", avail.get("operation_interval"))
    return {
        "line": progress_line(latest, slos).strip(),
        "window": f"last {latest.get('window_s', 0):g} s of records",
        "rate": f"{latest.get('req_per_s', 0.0):.1f} req/s ({latest.get('ops_per_s', 0.0):.1f} operations/s)",
        "availability_operation": f"{wording.value('availability', avail.get('operation'))} {ops_interval}".strip(),
        "availability_attempt": wording.value("availability", avail.get("attempt")),
        "p95": wording.value("latency_p95_ms", latest.get("p95_ms")),
        "slos": [
            {
                "name": s.get("name"),
                "state": s.get("state"),
                "text": wording.live_slo(s),
                "observed": wording.slo_observed(s) if s.get("observed") is not None else "",
                "objective": f"{wording.threshold(str(s.get('metric')), s.get('threshold') or {})} over "
                + ", ".join(s.get("phases") or ["all phases"]),
                "note": wording.in_flight(s),  # what in_flight_at_end: exclude left out, or cannot yet
            }
            for s in slos
        ],
    }


def current_phase(journal: dict[str, Any]) -> str:
    """The phase the journal says is running (the last one started), or "" before the first."""
    phases = [p for p in journal.get("phases") or [] if isinstance(p, dict)]
    running = [p for p in phases if p.get("end") is None]
    chosen = running[-1] if running else (phases[-1] if phases else None)
    return str(chosen.get("name")) if chosen else ""


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


def _span(name: Any, start: Any, end: Any, t0: float) -> dict[str, Any]:
    return {"name": name, "start_s": _rel(start, t0), "end_s": _rel(end, t0)}


def _rel(ts: Any, t0: float) -> float | None:
    return float(ts) - t0 if isinstance(ts, int | float) else None
