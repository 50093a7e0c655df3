# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
# ruff: noqa: E402, B018

# %% [markdown]
# # Resilience report notebook
#
# The published form of a run: the same numbers as `summary.json` and `report.html`, with the code that
# made them. Change a cell and rerun it: everything comes from the run directory set below.

# %% tags=["parameters"]
run_dir = "."

# %%
from io import BytesIO

import pandas as pd
from IPython.display import Image, Markdown, display

from harness.analysis.frames import load_run
from harness.analysis.summary import summarize
from harness.report.figures import figures_of

run = load_run(run_dir)
summary = summarize(run)
display(Markdown(f"## {summary['scenario']['name']}: **{summary['verdict'].upper()}**\n\n"
                 f"{summary['scenario']['description']}"))  # fmt: skip

# %% [markdown]
# ## Service level objectives

# %%
pd.DataFrame(summary["slos"])[["name", "metric", "scope", "phases", "threshold", "observed", "verdict"]]

# %% [markdown]
# ## What the faults did
# Time to detect and to recover per fault, and the fault rate the proxy injected beside the configured one.

# %%
faults = pd.DataFrame(summary["faults"])
if faults.empty:
    display(Markdown("No fault was applied."))
else:
    faults["injected_rate"] = [(i or {}).get("rate") for i in faults["injected"]]
    display(faults[["id", "label", "phase", "time_to_detect_s", "time_to_recover_s", "configured_rate",
                    "injected_rate"]])  # fmt: skip

# %% [markdown]
# ## Phases

# %%
phases = pd.DataFrame(
    {
        name: {
            "operations": p["operations"],
            "availability": p["availability"]["operation"],
            "p50_ms": p["latency_ms"]["operation"]["p50"],
            "p99_ms": p["latency_ms"]["operation"]["p99"],
            "p99.9_ms": p["latency_ms"]["operation"]["p99.9"],
            "attempts_per_op": p["attempts_per_operation"],
            "backoff_share": p["backoff_share"],
        }
        for name, p in summary["phases"].items()
    }
).T
phases

# %% [markdown]
# ## Per flow and step (operation scope)

# %%
rows = pd.DataFrame(summary["breakdown"]["operation"])
if not rows.empty:
    rows["p99_ms"] = [r["p99"] for r in rows["latency_ms"]]
    rows = rows[["phase", "flow", "step", "count", "availability", "p99_ms", "attempts_per_operation"]]
rows

# %% [markdown]
# ## Figures

# %%
for name, fig in figures_of(run).items():
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    display(Markdown(f"### {name}"), Image(data=buffer.getvalue()))

# %% [markdown]
# ## Your own question
# The records stay on disk (a day-long soak holds about 100 million); `run.records.frame(sql)` asks them a
# question in SQL over the views `operations` and `attempts` and gives the answer as a pandas frame, e.g.
# the slowest operations:

# %%
run.records.frame("SELECT ts, flow, step, outcome, latency_ms, attempts FROM operations "
                  "ORDER BY latency_ms DESC LIMIT 5")  # fmt: skip
