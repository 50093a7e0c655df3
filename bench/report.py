"""Benchmark: `harness report` and compaction on synthetic runs of 1M and 10M records (100M with --soak).

    python bench/report.py [--sizes 1000000,10000000] [--soak] [--runs 3]

Each size is a run directory written by bench/synth.py at the per-record shape of a real run (two load
processes, one shard a second each). Then, each in a fresh process pinned to 2 CPUs that reports its wall
time and the peak RSS of everything it ran:
- compaction of the shards (`harness.analysis.compact.compact`, the end-of-run hook);
- `harness report RUN_DIR` on the compacted run (what a finished run is), `runs` times; the median counts;
- `harness report` on the shards (what a crashed run leaves), once, for information.
Prints a table, the cost per record and the slope between sizes, and writes reports/bench/<stamp>/report.json.
"Records" counts attempt and operation records together.

Limits (issue 20): 1M records reported in <= 3 s; 100M in <= 180 s and <= 2 GB peak RSS; compacting 1M
in <= 5 s; cost linear in the number of records.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from synth import Shape, synthesise

ROOT = Path(__file__).resolve().parent.parent
LIMITS = {
    "report_1m_s": 3.0,
    "compact_1m_s": 5.0,
    "report_100m_s": 180.0,
    "report_100m_peak_mb": 2048.0,
}
SOAK_RECORDS = 100_000_000

# Runs in a fresh interpreter on 2 CPUs: what it runs inherits the affinity, and RUSAGE_CHILDREN's peak is
# the largest of the processes it waited for (the report and its figure worker).
CHILD = r"""
import json, os, resource, subprocess, sys, time
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
assert done.returncode in (0, 1), done.returncode  # 1: an SLO failed, as the synthetic run's brownout makes one
print(json.dumps({"seconds": time.perf_counter() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""
COMPACT = "import sys; from harness.analysis.compact import compact; compact(sys.argv[1])"


def measure(argv: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, *argv], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def harness_report(run_dir: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("harness")), "report", str(run_dir)]


def bench_size(root: Path, records: int, runs: int) -> dict[str, Any]:
    run_dir = root / f"run-{records}"
    started = time.perf_counter()
    written = synthesise(run_dir, Shape(records))
    found: dict[str, Any] = {"records": sum(written.values()), **written,
                             "synthesise_s": time.perf_counter() - started}  # fmt: skip
    found["shards"] = len(list((run_dir / "records").glob("*.parquet")))
    crashed = root / f"shards-{records}"
    shutil.copytree(run_dir, crashed)
    found["compact"] = measure([sys.executable, "-c", COMPACT, str(run_dir)])
    reports = [measure(harness_report(run_dir)) for _ in range(runs)]
    found["report_runs"] = reports
    found["report"] = {key: statistics.median(r[key] for r in reports) for key in ("seconds", "peak_rss_mb")}
    found["report_shards"] = measure(harness_report(crashed))
    found["us_per_record"] = found["report"]["seconds"] / found["records"] * 1e6
    shutil.rmtree(crashed)
    shutil.rmtree(run_dir)
    return found


def slope(results: list[dict[str, Any]]) -> dict[str, float] | None:
    """Seconds per million records between the smallest and the largest size, and the intercept."""
    if len(results) < 2:
        return None
    small, large = results[0], results[-1]
    per_record = (large["report"]["seconds"] - small["report"]["seconds"]) / (large["records"] - small["records"])
    intercept = small["report"]["seconds"] - per_record * small["records"]
    return {"s_per_million": per_record * 1e6, "intercept_s": intercept}


def verdicts(results: list[dict[str, Any]]) -> dict[str, bool]:
    out = {}
    for r in results:
        millions = round(r["records"] / 1e6)
        if millions == 1:
            out["report_1m_s"] = r["report"]["seconds"] <= LIMITS["report_1m_s"]
            out["compact_1m_s"] = r["compact"]["seconds"] <= LIMITS["compact_1m_s"]
        if millions == 100:
            out["report_100m_s"] = r["report"]["seconds"] <= LIMITS["report_100m_s"]
            out["report_100m_peak_mb"] = r["report"]["peak_rss_mb"] <= LIMITS["report_100m_peak_mb"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated record counts")
    parser.add_argument("--soak", action="store_true", help=f"add a {SOAK_RECORDS:,}-record run (about 15 minutes)")
    parser.add_argument("--runs", type=int, default=3, help="report runs per size (median)")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench"))
    parser.add_argument("--tmp", default=None, help="where the synthetic runs go (default: the system's temp dir)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([SOAK_RECORDS] if args.soak else [])
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-report-", dir=args.tmp) as tmp:
        for size in sizes:
            found = bench_size(Path(tmp), size, args.runs if size < SOAK_RECORDS else 1)
            results.append(found)
            print(f"{found['records']:>11,} records: report {found['report']['seconds']:6.2f} s, "
                  f"peak {found['report']['peak_rss_mb']:6.0f} MB, {found['us_per_record']:.2f} µs/record; "
                  f"from {found['shards']:,} shards {found['report_shards']['seconds']:6.2f} s; "
                  f"compaction {found['compact']['seconds']:6.2f} s, peak {found['compact']['peak_rss_mb']:.0f} MB",
                  flush=True)  # fmt: skip
    line = slope(results)
    if line:
        print(f"slope {line['s_per_million']:.2f} s per million records (intercept {line['intercept_s']:.2f} s)")
    checked = verdicts(results)
    for name, ok in checked.items():
        print(f"{name} <= {LIMITS[name]:g}: {ok}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(args.out) / stamp
    out.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "report", "cpus": 2, "limits": LIMITS, "verdicts": checked, "slope": line,
              "results": results}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(out / "report.json")
    return 0 if all(checked.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
