"""Benchmark: analysis + report of 100k, 1M and 5M records (issue 8: 1M in <= 15 s and <= 1.5 GB on 2 cores).

Not a test: run it with `.venv/bin/python bench/report.py [--sizes 100000,1000000,5000000]`. Each size is
a synthetic run directory (Parquet shards written with pyarrow, vectorised: about 1 attempt per 1.1
operations retried, a brownout phase with a fault), then `build_report` runs in a fresh subprocess pinned to
2 CPUs, which reports its own wall time and peak RSS. Prints a table and writes
reports/bench/<stamp>/report.json. "Records" counts operation and attempt rows together.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.records import ATTEMPT_SCHEMA, OPERATION_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
SHARD_ROWS = 250_000
PHASES = (("baseline", 0.3), ("brownout", 0.3), ("recovery", 0.3), ("cooldown", 0.1))
DURATION_S = 600.0
T0 = 1_764_300_000.0
LIMITS = {"records": 1_000_000, "seconds": 15.0, "peak_rss_mb": 1536.0}

SCENARIO = """name: bench
description: Synthetic records for the report benchmark.
seed: 1
phases:
  - {{name: baseline, duration_s: {b}}}
  - name: brownout
    duration_s: {b}
    faults: [{{type: http_error, endpoint: token, status: 503, probability: 0.3}}]
  - {{name: recovery, duration_s: {b}}}
  - {{name: cooldown, duration_s: {c}}}
slos:
  - {{name: availability, metric: availability, scope: operation, phases: [baseline, recovery], at_least: 0.99}}
  - {{name: p99, metric: latency_p99_ms, phases: [baseline], at_most: 300}}
  - {{name: recovery, metric: time_to_recover_s, at_most: 10}}
  - {{name: fail-closed, metric: unauthorized_accepted, at_most: 0}}
"""

CHILD = """
import json, os, resource, sys, time
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
t = time.perf_counter()
from harness.report.build import build_report
result = build_report(sys.argv[1], index=False)
elapsed = time.perf_counter() - t
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_mb, "operations": result.summary["totals"]["operations"],
                  "attempts": result.summary["totals"]["attempts"]}))
"""


def synthesise(run_dir: Path, records: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ops_n = int(records / 2.1)
    att_n = records - ops_n
    ts = np.sort(rng.uniform(0, DURATION_S * 0.9, ops_n)) + T0
    edges = np.cumsum([0.0] + [share * DURATION_S for _, share in PHASES]) + T0
    phase_idx = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, len(PHASES) - 1)
    phase_names = np.array([name for name, _ in PHASES])
    in_fault = phase_idx == 1
    extra = att_n - ops_n  # retries to hand out, within the brownout first
    attempts = np.ones(ops_n, dtype=np.int32)
    retry = np.flatnonzero(in_fault)[: max(extra, 0)]
    attempts[retry] += 1
    shortfall = extra - retry.size
    if shortfall > 0:
        attempts[rng.choice(ops_n, shortfall, replace=False)] += 1
    failed = in_fault & (rng.random(ops_n) < 0.3**2)
    outcome = np.where(failed, "http_5xx", "ok")
    status = np.where(failed, 503, 200).astype(np.int32)
    latency = rng.lognormal(1.2, 0.5, ops_n) + (attempts - 1) * 150.0
    backoff = (attempts - 1) * 120.0
    flows = np.array(["client_credentials", "aws_device_login", "refresh_token"])[rng.integers(0, 3, ops_n)]
    steps = np.array(["token", "register", "device", "credentials"])[rng.integers(0, 4, ops_n)]
    op_id = np.char.add("op", np.arange(ops_n).astype(str))
    ops = pa.table(
        {
            "ts": ts, "op_id": op_id, "flow": flows, "step": steps, "attempts": attempts, "outcome": outcome,
            "status": status, "latency_ms": latency, "backoff_ms": backoff, "phase": phase_names[phase_idx],
            "user": np.char.add("u", (np.arange(ops_n) % 500).astype(str)), "node": np.full(ops_n, "n1"),
            "intended_ts": np.full(ops_n, np.nan),
        },
        schema=OPERATION_SCHEMA,
    )  # fmt: skip
    owner = np.repeat(np.arange(ops_n), attempts)
    number = np.arange(owner.size) - np.repeat(np.cumsum(attempts) - attempts, attempts) + 1
    last = number == attempts[owner]
    att_failed = ~last | failed[owner]
    att = pa.table(
        {
            "ts": ts[owner] + (number - 1) * 0.15, "op_id": op_id[owner], "flow": flows[owner], "step": steps[owner],
            "endpoint": steps[owner], "method": np.full(owner.size, "POST"), "attempt": number.astype(np.int32),
            "status": np.where(att_failed, 503, 200).astype(np.int32),
            "outcome": np.where(att_failed, "http_5xx", "ok"), "latency_ms": rng.lognormal(1.2, 0.5, owner.size),
            "bytes": np.full(owner.size, 512, dtype=np.int64), "phase": phase_names[phase_idx][owner],
            "user": np.full(owner.size, "u"), "node": np.full(owner.size, "n1"), "error": np.full(owner.size, None),
        },
        schema=ATTEMPT_SCHEMA,
    )  # fmt: skip
    records_dir = run_dir / "records"
    records_dir.mkdir(parents=True)
    for kind, table in (("operations", ops), ("attempts", att)):
        for i, start in enumerate(range(0, table.num_rows, SHARD_ROWS)):
            pq.write_table(table.slice(start, SHARD_ROWS), records_dir / f"{kind}-n1-{i + 1:06d}.parquet")
    phase_len = [share * DURATION_S for _, share in PHASES]
    (run_dir / "scenario.yaml").write_text(SCENARIO.format(b=phase_len[0], c=phase_len[3]))
    journal = {
        "schema_version": 1, "run_id": run_dir.name, "status": "completed", "exit_code": 0,
        "scenario": {"name": "bench"}, "started_at": T0 - 1, "ended_at": T0 + DURATION_S, "test_start": T0,
        "phases": [{"name": n, "asked_start": float(edges[i]), "start": float(edges[i]), "end": float(edges[i + 1])}
                   for i, (n, _) in enumerate(PHASES)],
        "faults": [{"id": "brownout.0", "phase": "brownout", "type": "http_error", "toxic": "harness-brownout-0",
                    "spec": {"type": "http_error", "endpoint": "token", "status": 503, "probability": 0.3},
                    "apply_asked_at": float(edges[1]), "applied_at": float(edges[1]),
                    "remove_asked_at": float(edges[2]), "removed_at": float(edges[2]), "error": None}],
        "events": [], "rollback": [],
    }  # fmt: skip
    (run_dir / "journal.json").write_text(json.dumps(journal))


def measure(run_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(run_dir)], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="comma-separated record counts")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            run_dir = Path(tmp) / f"run-{size}"
            t = time.perf_counter()
            synthesise(run_dir, size)
            synth_s = time.perf_counter() - t
            found = measure(run_dir) | {"records": size, "synthesise_s": synth_s}
            found["us_per_record"] = found["seconds"] / size * 1e6
            results.append(found)
            print(f"{size:>9,} records: {found['seconds']:6.2f} s, peak {found['peak_rss_mb']:7.0f} MB, "
                  f"{found['us_per_record']:.2f} µs/record", flush=True)  # fmt: skip
    at_limit = next((r for r in results if r["records"] == LIMITS["records"]), None)
    verdict = None
    if at_limit is not None:
        verdict = at_limit["seconds"] <= LIMITS["seconds"] and at_limit["peak_rss_mb"] <= LIMITS["peak_rss_mb"]
        print(f"1M records within {LIMITS['seconds']:g} s and {LIMITS['peak_rss_mb']:g} MB: {verdict}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(args.out) / stamp
    out.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "report", "cpus": 2, "limits": LIMITS, "within_limits": verdict, "results": results}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(out / "report.json")
    return 0 if verdict in (None, True) else 1


if __name__ == "__main__":
    sys.exit(main())
