"""The measurement behind the choice of DuckDB for out-of-core analysis (README, "Analysis and reports").

    python bench/engines.py [--records 10000000] [--runs 2]

One synthetic run (bench/synth.py); on its operation records, each candidate computes what the report needs
most: per phase x flow x step the count, the ok count, attempts and exact p50/p90/p95/p99/p99.9/max, and per
second the count, ok count and exact p50/p95/p99. Each candidate runs in a fresh process (2 CPUs), which
reports its wall time and peak RSS; the candidates alternate, medians are printed.

- duckdb: SQL over the Parquet files (quantile_cont is exact);
- arrow: a pyarrow dataset scanned in record batches, group codes and per-group value lists in numpy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from synth import T0, Shape, synthesise

CHILD = r"""
import glob, json, os, resource, sys, time
import numpy as np
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
which, files = sys.argv[1], sorted(glob.glob(sys.argv[2] + "/records/operations-*.parquet"))
T0, QS = float(sys.argv[3]), [50, 90, 95, 99, 99.9, 100]
t = time.perf_counter()
if which == "duckdb":
    import duckdb
    con = duckdb.connect(config={"threads": 2})
    src = f"read_parquet({files!r})"
    q = [x / 100 for x in QS]
    con.execute(f"SELECT phase, flow, step, count(*), count(*) FILTER (outcome = 'ok'), sum(attempts), "
                f"quantile_cont(latency_ms, {q}) FROM {src} GROUP BY ALL").fetchall()
    con.execute(f"SELECT floor(ts - {T0}) w, count(*), count(*) FILTER (outcome = 'ok'), "
                f"quantile_cont(latency_ms, [0.5, 0.95, 0.99]) FROM {src} GROUP BY w").fetchall()
else:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    codes, values, windows = {}, {}, {}
    for batch in ds.dataset(files, format="parquet").to_batches(
            columns=["ts", "phase", "flow", "step", "outcome", "attempts", "latency_ms"], batch_size=1 << 20):
        key = np.zeros(batch.num_rows, dtype=np.int64)
        for column in ("phase", "flow", "step"):
            encoded = pc.dictionary_encode(batch.column(column))
            ids = np.array([codes.setdefault(v, len(codes)) for v in encoded.dictionary.to_pylist()])
            key = key * 4096 + ids[encoded.indices.to_numpy()]
        latency = batch.column("latency_ms").to_numpy()
        ok = pc.equal(batch.column("outcome"), "ok").to_numpy(zero_copy_only=False)
        attempts = batch.column("attempts").to_numpy()
        window = np.floor(batch.column("ts").to_numpy() - T0).astype(np.int64)
        for table, keys in ((values, key), (windows, window)):
            order = np.argsort(keys, kind="stable")
            found, starts = np.unique(keys[order], return_index=True)
            for k, part in zip(found, np.split(order, starts[1:])):
                table.setdefault(int(k), []).append((latency[part], ok[part], attempts[part]))
    for table, qs in ((values, QS), (windows, [50, 95, 99])):
        for parts in table.values():
            lat = np.concatenate([p[0] for p in parts])
            np.percentile(lat, qs), sum(int(p[1].sum()) for p in parts), sum(int(p[2].sum()) for p in parts)
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(which: str, run_dir: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, which, str(run_dir), repr(T0)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        run_dir = Path(tmp) / "run"
        synthesise(run_dir, Shape(args.records))
        found: dict[str, list[dict[str, float]]] = {"duckdb": [], "arrow": []}
        for _ in range(args.runs):
            for which in found:
                found[which].append(measure(which, run_dir))
    for which, runs in found.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        peak = statistics.median(r["peak_rss_mb"] for r in runs)
        print(f"{which:7s} {seconds:6.2f} s  {peak:6.0f} MB peak  (runs: {[round(r['seconds'], 2) for r in runs]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
