# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# ruff: noqa: E402, B018
run_dir = "."

# %% tags=["hide-input"]
from datetime import UTC, datetime
from io import BytesIO

import pandas as pd
from IPython.display import Image, Markdown, display

from harness.analysis.frames import load_run
from harness.analysis.summary import summarize
from harness.report import wording
from harness.report.build import CAPTIONS
from harness.report.figures import figures_of

run = load_run(run_dir)
summary = summarize(run)
config = summary["configuration"]
held = sum(1 for s in summary["slos"] if s["verdict"] == "pass")


def when(ts: float | None) -> str:
    """An epoch time as the UTC time of day it was, to the millisecond (None: never)."""
    return "—" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]


display(Markdown("\n\n".join(filter(None, [
    f"# {summary['scenario']['name']}: {config['question'] or summary['scenario']['description']}",
    f"**Verdict: {summary['verdict'].upper()}**: {held} of {len(summary['slos'])} SLOs held; status "
    f"{summary['status']}, exit code {summary['exit_code']}.",
    f"*Hypothesis:* {config['hypothesis']}" if config["hypothesis"] else "",
    f"Run `{summary['run_id']}`, {when(summary['started_at'])} to {when(summary['ended_at'])} UTC on "
    f"{datetime.fromtimestamp(summary['started_at'], UTC):%Y-%m-%d}; {config['planned_duration_s']:g} s planned"
    + (f" (durations scaled by {config['duration_scale']:g})" if config["duration_scale"] != 1 else "") + ".",
]))))  # fmt: skip

# %% [markdown]
# The published form of a run: the same numbers as `summary.json` and `report.html`, with the code that
# made them. Change a cell and rerun it: everything comes from the run directory set above.
#
# ## Service level objectives
# Each SLO's observed value with its 95% interval and the interval's method; "PASS?" or "FAIL?" marks a
# verdict whose interval reaches across the objective.

# %%
pd.DataFrame(
    {
        "SLO": s["name"],
        "objective": wording.threshold(s["metric"], s["threshold"]),
        "over": ", ".join(s["phases"] or ["all phases"]),
        "observed": wording.slo_observed(s) if s["verdict"] != "no_data" else s["message"],
        "verdict": wording.slo_verdict(s),
        **({"left out": wording.in_flight(s)} if any(x.get("excluded_in_flight_by_phase") is not None
                                                     for x in summary["slos"]) else {}),
    }
    for s in summary["slos"]
).style.hide(axis="index")

# %% [markdown]
# ## What the faults did
# When each fault took effect and came off (UTC), how long it took to see it and to recover from it, and
# the fault rate the proxy injected beside the configured one.

# %%
pd.DataFrame(
    {
        "fault": f["id"],
        "what": f["label"],
        "phase": f["phase"],
        "applied": when(f["applied_at"]),
        "removed": when(f["removed_at"]),
        "detected after": wording.value("time_to_recover_s", f["time_to_detect_s"]),
        "recovered after": wording.value("time_to_recover_s", f["time_to_recover_s"])
        if f["time_to_recover_s"] is not None
        else f["recovery_note"] or "not measured",
        "configured rate": wording.value("availability", f["configured_rate"]),
        "injected rate": wording.value("availability", (f["injected"] or {}).get("rate")),
    }
    for f in summary["faults"]
).style.hide(axis="index") if summary["faults"] else Markdown("No fault was applied.")

# %% [markdown]
# ## Phases

# %%
pd.DataFrame(
    {
        "phase": name,
        "start": when(p["start"]),
        "duration": wording.value("time_to_recover_s", p["duration_s"]),
        "operations": p["operations"],
        "availability": wording.value("availability", p["availability"]["operation"]),
        "95% interval": wording.interval("availability", p["availability"]["operation_interval"]),
        "p50": wording.value("latency_p50_ms", p["latency_ms"]["operation"]["p50"]),
        "p99": wording.value("latency_p99_ms", p["latency_ms"]["operation"]["p99"]),
        "attempts/op": wording.value("attempts_per_operation", p["attempts_per_operation"], unit=False),
    }
    for name, p in summary["phases"].items()
).style.hide(axis="index")

# %% [markdown]
# ## Per flow and step (operation scope)

# %%
rows = pd.DataFrame(summary["breakdown"]["operation"])
if not rows.empty:
    rows["phase"] = rows["phase"].fillna("all")
    rows["availability"] = [wording.value("availability", v) for v in rows["availability"]]
    rows["p99"] = [wording.value("latency_p99_ms", r["p99"]) for r in rows["latency_ms"]]
    rows = rows[["phase", "flow", "step", "count", "availability", "p99", "attempts_per_operation"]]
rows

# %% [markdown]
# ## Figures

# %%
for name, fig in figures_of(run).items():
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    display(Markdown(f"### {CAPTIONS.get(name, name)}"), Image(data=buffer.getvalue(), alt=CAPTIONS.get(name, name)))

# %% [markdown]
# ## Your own question
# The records stay on disk (a day-long soak holds about 100 million); `run.records.frame(sql)` asks them a
# question in SQL over the views `operations` and `attempts` and gives the answer as a pandas frame, e.g.
# the slowest operations:

# %%
run.records.frame("SELECT ts, flow, step, outcome, latency_ms, attempts FROM operations "
                  "ORDER BY latency_ms DESC LIMIT 5")  # fmt: skip
