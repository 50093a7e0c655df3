"""`make bench`: every comparison of issue 11 in one run, as ratios against a peer measured alongside.

    python bench/run.py [--only load,proxy,proxy_memory,soak_memory,target,report,timing,distributed,homing]
                        [--duration-s 6]
                        [--min-rounds 5] [--max-rounds 16] [--runs 3] [--quick] [--soak]

Runs the bench scripts beside this file one after the other, gathers their JSON into reports/bench/<UTC
stamp>/, and writes bench.json and bench.md there: one row per comparison with what, ours, peer, ratio,
goal and verdict. load, proxy and target run interleaved rounds (bench/rounds.py): their ratio is the
geometric mean of the rounds' paired ratios with a 95% bootstrap interval, and the verdict is pass or fail
only when the interval clears or misses the goal, else inconclusive. timing takes medians of `runs`.
The machine line gives the CPU model and the load average before and after. Loopback only; each script is
bounded by a timeout. A script that fails gives an `error` row and the others still run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))  # a script, or bench.run imported by the tests

from rounds import MAX_ROUNDS  # noqa: E402

BENCHES = ("load", "proxy", "proxy_memory", "soak_memory", "target", "timing", "report", "distributed", "homing")
SOAK_TIMEOUT_S = 3600  # the 100M-record run: writing, compacting and reporting it; the hour of soak_memory
SOAK_MEMORY_MINUTES = (10, 60)  # soak_memory's full-speed run: make bench, and with --soak


@dataclass
class Row:
    what: str
    ours: float | None
    peer: float | None
    ratio: float | None
    goal: str
    verdict: str  # pass, fail, inconclusive, info, error
    unit: str = ""
    low: float | None = None  # the ratio's (or difference's) 95% bootstrap interval over rounds
    high: float | None = None
    rounds: int | None = None


def _args_for(name: str, opts: argparse.Namespace) -> list[str]:
    rounds = ["--min-rounds", str(opts.min_rounds), "--max-rounds", str(opts.max_rounds)]
    common = ["--runs", str(opts.runs)]  # the scripts that take medians of runs
    if name == "load":
        return [*rounds, "--measure-s", str(opts.duration_s)]
    if name in ("proxy", "target"):
        return [*rounds, "--duration-s", str(opts.duration_s)]
    if name == "timing":
        return common
    if name == "distributed":
        return [*common, "--duration-s", str(max(10, 2 * opts.duration_s))]
    if name == "homing":
        return [*common, "--records", "1000000"]
    if name == "soak_memory":
        return ["--minutes", str(SOAK_MEMORY_MINUTES[opts.soak])]
    if name == "proxy_memory":
        return ["--connections-total", "200000" if opts.quick else "1000000"]
    return [*common, "--sizes", "1000000" if opts.quick else "1000000,10000000", *(["--soak"] if opts.soak else [])]


def _run_script(name: str, opts: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run bench/NAME.py, move the JSON it wrote (its last printed path) into `out`, return it."""
    started = time.monotonic()
    timeout = opts.timeout_s + (SOAK_TIMEOUT_S if name in ("report", "soak_memory") and opts.soak else 0)
    proc = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *_args_for(name, opts)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    (out / f"{name}.log").write_text(proc.stdout + proc.stderr)
    paths = re.findall(r"(/\S+\.json)\s*$", proc.stdout, flags=re.MULTILINE)
    if not paths or not Path(paths[-1]).exists():
        raise RuntimeError(f"bench/{name}.py exited {proc.returncode} without a result; see {out / f'{name}.log'}")
    src = Path(paths[-1])
    data: dict[str, Any] = json.loads(src.read_text())
    if src.parent != out:
        shutil.move(str(src), out / src.name)
        if not any(src.parent.iterdir()):
            src.parent.rmdir()
    data["elapsed_s"] = time.monotonic() - started
    return data


def _at_most(what: str, ours: float | None, peer: float | None, limit: float, unit: str) -> Row:
    ratio = ours / peer if ours is not None and peer and ours > 0 and peer > 0 else None  # no ratio of noise
    verdict = "pass" if ours is not None and ours <= limit else "fail"
    return Row(what, ours, peer, ratio, f"<= {limit:g} {unit}", verdict, unit)


def _peer_at_best(a: dict[str, Any], labels: dict[str, str]) -> str:
    """"; peer at its best: haproxy nbthread 1 (43,343 req/s; haproxy nbthread 2: 39,483)" for a goal judged
    against several configurations of the peer (labels: the bench's setup.peer_configurations), else ""."""
    candidates: dict[str, float] = a.get("candidates") or {}
    if len(candidates) < 2:
        return ""
    unit = f" {a['unit']}" if a["unit"] else ""
    others = "; ".join(f"{labels.get(c, c)}: {_fmt(m, a['unit'])}" for c, m in candidates.items() if c != a["peer"])
    best = f"{_fmt(candidates[a['peer']], a['unit'])}{unit}"
    return f"; peer at its best: {labels.get(a['peer'], a['peer'])} ({best}; {others})"


def rows_assessed(d: dict[str, Any]) -> list[Row]:
    """A rounds-based bench (load, proxy, target): one row per goal, then its figures shown for scale; a row
    whose peer had several configurations names the one it was judged against and what each made."""
    rows = []
    labels = d.get("setup", {}).get("peer_configurations", {})
    for a, judged in [*((a, True) for a in d["assessments"]), *((a, False) for a in d.get("info", []))]:
        ratio = a["kind"] == "ratio"
        goal = f"ratio >= {a['goal']:g}" if ratio else f"<= {a['goal']:g} {a['unit']}"
        if a.get("stretch"):
            goal += f" (stretch {a['stretch']:g})"
        ours, peer = a["ours_median"], a["peer_median"]
        rows.append(Row(a["what"] + _peer_at_best(a, labels), ours if ratio else a["estimate"], peer if ratio
                        else None, a["estimate"] if ratio else None, goal if judged else "-",
                        a["verdict"] if judged else "info", a["unit"], a["low"], a["high"], a["rounds"]))  # fmt: skip
    return rows


def rows_report(d: dict[str, Any]) -> list[Row]:
    rows = []
    for r in d["results"]:
        label = f"{r['records'] / 1e6:,.1f}M"
        report, compact, millions = r["report"], r["compact"], round(r["records"] / 1e6)
        what = f"analysis: {label} records through harness report (compacted)"
        if millions == 1:
            rows.append(_at_most(what, report["seconds"], None, 3, "s"))
            rows.append(_at_most(f"analysis: {label} records, compaction", compact["seconds"], None, 5, "s"))
        elif millions == 100:
            rows.append(_at_most(what, report["seconds"], None, 180, "s"))
            rows.append(_at_most(f"analysis: {label} records, peak memory", report["peak_rss_mb"], None, 2048, "MB"))
        else:
            rows.append(Row(what, report["seconds"], None, None, "-", "info", "s"))
        if millions != 100:
            rows.append(Row(f"analysis: {label} records, peak memory", report["peak_rss_mb"], None, None, "-", "info",
                            "MB"))  # fmt: skip
        rows.append(Row(f"analysis: {label} records from shards (a crashed run)", r["report_shards"]["seconds"],
                        None, None, "-", "info", "s"))  # fmt: skip
        if millions != 1:
            rows.append(Row(f"analysis: {label} records, compaction", compact["seconds"], None, None, "-", "info", "s"))
    if d.get("slope"):
        rows.append(Row("analysis: cost per million records (slope)", d["slope"]["s_per_million"], None, None,
                        "linear", "info", "s"))  # fmt: skip
    return rows


def rows_proxy_memory(d: dict[str, Any]) -> list[Row]:
    what = f"proxy: RSS growth over {d['connections']:,} connections (after warm-up)"
    return [_at_most(what, d["growth_after_warmup_mb"], None, d["limit_mb"], "MB")]


def rows_soak_memory(d: dict[str, Any]) -> list[Row]:
    rows = []
    for who, p in d["processes"].items():
        what = f"memory: {who} process over {d['minutes']:g} min at full speed ({d['requests_per_s']:,.0f} req/s)"
        if "growth" not in p:
            rows.append(Row(f"{what}: {p['error']}", None, None, None, "-", "error"))
            continue
        what += f", growth after warm-up (slope {p['slope_mb_per_h']:+.1f} MB/h, {p['after_warmup_mb']:.0f} MB)"
        if who in d.get("judged", ()):
            rows.append(Row(what, 100 * p["growth"], None, None, f"<= {100 * d['limit']:g} %",
                            "pass" if p["flat"] else "fail", "%"))  # fmt: skip
        else:
            rows.append(Row(what, 100 * p["growth"], None, None, "-", "info", "%"))
    return rows


def rows_timing(d: dict[str, Any]) -> list[Row]:
    return [_at_most(f"fault timing: lateness p99 over {d['changes']} changes", d["medians"]["p99_ms"], None, 50, "ms")]


def rows_distributed(d: dict[str, Any]) -> list[Row]:
    m = d["medians"]
    ratio = m["records_per_user_ratio"]
    same = Row("workers: records per simulated user, 2 remote workers vs 1 process", m["records_per_user_two_workers"],
               m["records_per_user_one_process"], ratio, "ratio 0.95-1.05", "pass" if 0.95 <= ratio <= 1.05 else "fail")
    cpu = _at_most("workers: master CPU with 2 remote workers, share of one core (peer: a worker)",
                   100 * m["master_cpu_share"], 100 * m["worker_cpu_share"], 5, "%")  # fmt: skip
    return [cpu, same]


def rows_homing(d: dict[str, Any]) -> list[Row]:
    return [_at_most("workers: bringing records home at stop, per million records", d["added_s_per_million"],
                     None, 2, "s")]  # fmt: skip


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "load": rows_assessed, "proxy": rows_assessed, "proxy_memory": rows_proxy_memory,
    "soak_memory": rows_soak_memory, "target": rows_assessed,
    "report": rows_report, "timing": rows_timing, "distributed": rows_distributed, "homing": rows_homing,
}  # fmt: skip


def _version(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    found = re.search(r"\d+\.\d+(\.\d+)?", proc.stdout + proc.stderr)
    return found.group(0) if found else "?"


def machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    node_dir = Path(os.environ.get("OIDC_PROVIDER_DIR", Path.home() / ".cache/harness-bench/oidc-provider"))
    pkg = node_dir / "node_modules/oidc-provider/package.json"
    return {
        "cpu": model, "cpus": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE")
                                                                  * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(), "python": platform.python_version(),
        "nginx": _version(["nginx", "-v"]), "haproxy": _version(["haproxy", "-v"]), "wrk": _version(["wrk", "-v"]),
        "node": _version(["node", "--version"]),
        "oidc-provider": json.loads(pkg.read_text())["version"] if pkg.exists() else "absent",
    }  # fmt: skip


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "req/s" or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def interval_text(low: float | None, high: float | None) -> str:
    """An interval at two decimals, rounded outwards, so that it still says what its verdict says: 0.9955
    to 1.077 reads [0.99, 1.08] (inconclusive against 1.0), not [1.00, 1.08]."""
    if low is None or high is None:
        return "-"
    tiny = 1e-9  # 0.57 * 100 is 56.99999999999999: a bound already at two decimals stays where it is
    return f"[{math.floor(low * 100 + tiny) / 100:.2f}, {math.ceil(high * 100 - tiny) / 100:.2f}]"


def markdown(rows: list[Row], info: dict[str, Any], stamp: str, opts: argparse.Namespace) -> str:
    lines = [
        f"# Benchmarks {stamp}",
        "",
        f"Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory_gb']} GB, {info['os']}; "
        f"Python {info['python']}, nginx {info['nginx']}, haproxy {info['haproxy']}, wrk {info['wrk']}, "
        f"node {info['node']}, oidc-provider {info['oidc-provider']}.",
        f"Load average (1, 5, 15 min) {info['loadavg_before']} before, {info['loadavg_after']} after.",
        f"load, proxy, target: interleaved rounds ({opts.min_rounds} to {opts.max_rounds}, the order rotating; once "
        "a row is decided, later rounds run only what undecided rows compare, so its rounds count stops there) of "
        f"{opts.duration_s} s each (wrk -t2 -c32; Locust 50 users, measured inside the process after spawn); ours "
        "and peer are medians over rounds, the ratio is the geometric mean of each round's paired ratio with its "
        "95% bootstrap interval over rounds (a difference: its mean). A verdict is called only when the interval "
        "clears or misses the goal. Where the peer has several configurations (oidc-provider 1 or 2 worker "
        "processes, haproxy nbthread 1 or 2), each runs in every round and a row is judged against the one with "
        "the best median of its metric, named in the row. Loopback only, on a shared machine.",
        "",
        "| what | ours | peer | ratio | 95% interval | rounds | goal | verdict |",
        "|---|---:|---:|---:|---|---:|---|---|",
    ]
    for r in rows:
        unit = f" {r.unit}" if r.unit and r.ours is not None else ""
        spread = interval_text(r.low, r.high)
        lines.append(f"| {r.what} | {_fmt(r.ours, r.unit)}{unit} | {_fmt(r.peer, r.unit)} | {_fmt(r.ratio)} | "
                     f"{spread} | {r.rounds or '-'} | {r.goal} | {r.verdict} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ", ".join(BENCHES))
    parser.add_argument("--duration-s", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3, help="timing, report, distributed, homing")
    parser.add_argument("--min-rounds", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=MAX_ROUNDS)
    parser.add_argument("--quick", action="store_true", help="analysis of 1M records only")
    parser.add_argument("--soak", action="store_true",
                        help="also report a 100M-record run (about 15 minutes); soak_memory runs an hour")
    # proxy's 16 rounds at worst: 5 of its 11 paths (77 s each) and 11 of 7 (49 s): about 16 minutes
    parser.add_argument("--timeout-s", type=int, default=1800, help="per bench script")
    opts = parser.parse_args()
    if opts.runs < 3 or opts.min_rounds < 5:
        print("bench/run.py: fewer than 3 runs or 5 rounds gives no figure worth the name", file=sys.stderr)
    loadavg_before = _loadavg()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "reports" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    results: dict[str, Any] = {}
    for name in [n.strip() for n in opts.only.split(",") if n.strip()]:
        print(f"== bench/{name}.py", flush=True)
        before = len(rows)
        try:
            results[name] = _run_script(name, opts, out)
            rows += ROWS[name](results[name])
        except Exception as exc:  # one broken bench must not hide the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            rows.append(Row(f"{name}: {exc}", None, None, None, "-", "error"))
        for row in rows[before:]:
            print(f"   {row.what}: ours {_fmt(row.ours, row.unit)} peer {_fmt(row.peer, row.unit)} "
                  f"ratio {_fmt(row.ratio)} [{row.verdict}]", flush=True)  # fmt: skip
    info = {**machine(), "loadavg_before": loadavg_before, "loadavg_after": _loadavg()}
    (out / "bench.json").write_text(json.dumps(
        {"stamp": stamp, "machine": info, "settings": vars(opts), "rows": [asdict(r) for r in rows],
         "results": results}, indent=2) + "\n")  # fmt: skip
    (out / "bench.md").write_text(markdown(rows, info, stamp, opts))
    print((out / "bench.md").read_text())
    print(f"written {out / 'bench.json'} and bench.md")
    return 1 if any(r.verdict == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
