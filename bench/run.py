"""`make bench`: every comparison of issue 11 in one run, as ratios against a peer measured alongside.

    python bench/run.py [--only load,proxy,target,report,timing,distributed,homing] [--duration-s 6] [--runs 3]
                        [--quick] [--soak]

Runs the bench scripts beside this file one after the other (each alternates its A and B variants itself
and takes medians of `runs`), gathers their JSON into reports/bench/<UTC stamp>/, and writes bench.json
and bench.md there: one row per comparison with what, ours, peer, ratio, goal and verdict. Loopback only;
each script is bounded by a timeout. A script that fails gives an `error` row and the others still run.
"""

from __future__ import annotations

import argparse
import json
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
IDLE = "ours_idle_http_toxic"
BENCHES = ("load", "proxy", "proxy_memory", "target", "timing", "report", "distributed", "homing")
SOAK_TIMEOUT_S = 3600  # the 100M-record run: writing, compacting and reporting it


@dataclass
class Row:
    what: str
    ours: float | None
    peer: float | None
    ratio: float | None
    goal: str
    verdict: str  # pass, fail, info, error
    unit: str = ""


def _args_for(name: str, opts: argparse.Namespace) -> list[str]:
    common = ["--runs", str(opts.runs)]
    if name in ("load", "proxy", "target"):
        return [*common, "--duration-s", str(opts.duration_s)]
    if name == "timing":
        return common
    if name == "distributed":
        return [*common, "--duration-s", str(max(10, 2 * opts.duration_s))]
    if name == "homing":
        return [*common, "--records", "1000000"]
    if name == "proxy_memory":
        return ["--connections-total", "200000" if opts.quick else "1000000"]
    return [*common, "--sizes", "1000000" if opts.quick else "1000000,10000000", *(["--soak"] if opts.soak else [])]


def _run_script(name: str, opts: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run bench/NAME.py, move the JSON it wrote (its last printed path) into `out`, return it."""
    started = time.monotonic()
    timeout = opts.timeout_s + (SOAK_TIMEOUT_S if name == "report" and opts.soak else 0)
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


def _ratio_row(what: str, ours: float, peer: float, goal: float, unit: str) -> Row:
    ratio = ours / peer if peer else None
    verdict = "pass" if ratio is not None and ratio >= goal else "fail"
    return Row(what, ours, peer, ratio, f"ratio >= {goal:g}", verdict, unit)


def _at_most(what: str, ours: float | None, peer: float | None, limit: float, unit: str) -> Row:
    ratio = ours / peer if ours is not None and peer and ours > 0 and peer > 0 else None  # no ratio of noise
    verdict = "pass" if ours is not None and ours <= limit else "fail"
    return Row(what, ours, peer, ratio, f"<= {limit:g} {unit}", verdict, unit)


def rows_load(d: dict[str, Any]) -> list[Row]:
    m = d["median_rps"]
    return [
        _ratio_row("load: harness retry-aware user vs Locust HttpUser (nginx)", m["harness"], m["http"], 0.95, "req/s"),
        _ratio_row("load: harness user on fast transport vs FastHttpUser", m["harness_fast"], m["fast"], 0.90, "req/s"),
    ]


TLS_RATIO = "proxy: TLS both hops vs haproxy ssl bind+server"
TLS_ADDED = "proxy: p99 added, TLS both hops, over nginx https (peer: haproxy)"


def rows_proxy(d: dict[str, Any]) -> list[Row]:
    m, added = d["medians"], d["added_p99_ms"]
    rows = []
    if "ours" in m:
        rows += [
            _ratio_row("proxy: pass-through vs haproxy mode tcp", m["ours"]["rps"], m["haproxy"]["rps"], 1.0, "req/s"),
            _at_most("proxy: p99 added over nginx direct (peer: haproxy)", added["ours"], added["haproxy"], 1.0, "ms"),
        ]
    if IDLE in m:
        rows += [
            _ratio_row("proxy: with an idle HTTP toxic vs haproxy", m[IDLE]["rps"], m["haproxy"]["rps"], 1.0, "req/s"),
            _at_most("proxy: p99 added, idle HTTP toxic (peer: haproxy)", added[IDLE], added["haproxy"], 1.0, "ms"),
        ]
    if "ours_tls" in m:
        rows += [
            _ratio_row(TLS_RATIO, m["ours_tls"]["rps"], m["haproxy_tls"]["rps"], 0.8, "req/s"),
            _at_most(TLS_ADDED, added["ours_tls"], added["haproxy_tls"], 2.0, "ms"),
        ]
    return rows


def rows_target(d: dict[str, Any]) -> list[Row]:
    rps = {name: m["rps"] for name, m in d["medians"].items()}
    token = "target vs oidc-provider: token (client_credentials, RS256 JWT)"
    return [
        _ratio_row(token, rps["ours_token"], rps["peer_token"], 1.0, "req/s"),
        _ratio_row("target vs oidc-provider: discovery", rps["ours_discovery"], rps["peer_discovery"], 1.0, "req/s"),
    ]


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
    "load": rows_load, "proxy": rows_proxy, "proxy_memory": rows_proxy_memory, "target": rows_target,
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


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "req/s" or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def markdown(rows: list[Row], info: dict[str, Any], stamp: str, opts: argparse.Namespace) -> str:
    lines = [
        f"# Benchmarks {stamp}",
        "",
        f"Machine: {info['cpus']} CPUs ({info['cpu']}), {info['memory_gb']} GB, {info['os']}; "
        f"Python {info['python']}, nginx {info['nginx']}, haproxy {info['haproxy']}, wrk {info['wrk']}, "
        f"node {info['node']}, oidc-provider {info['oidc-provider']}.",
        f"Each figure is the median of {opts.runs} runs of {opts.duration_s} s (wrk -t2 -c32; Locust 50 users), "
        "A and B alternating, loopback only, on a shared machine: differences under ~20% are noise.",
        "",
        "| what | ours | peer | ratio | goal | verdict |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        unit = f" {r.unit}" if r.unit and r.ours is not None else ""
        lines.append(f"| {r.what} | {_fmt(r.ours, r.unit)}{unit} | {_fmt(r.peer, r.unit)} | "
                     f"{_fmt(r.ratio)} | {r.goal} | {r.verdict} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ", ".join(BENCHES))
    parser.add_argument("--duration-s", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="analysis of 1M records only")
    parser.add_argument("--soak", action="store_true", help="also report a 100M-record run (about 15 minutes)")
    parser.add_argument("--timeout-s", type=int, default=900, help="per bench script")
    opts = parser.parse_args()
    if opts.runs < 3:
        print("bench/run.py: fewer than 3 runs gives no median worth the name; use --runs 3 or more", file=sys.stderr)
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
    info = machine()
    (out / "bench.json").write_text(json.dumps(
        {"stamp": stamp, "machine": info, "settings": vars(opts), "rows": [asdict(r) for r in rows],
         "results": results}, indent=2) + "\n")  # fmt: skip
    (out / "bench.md").write_text(markdown(rows, info, stamp, opts))
    print((out / "bench.md").read_text())
    print(f"written {out / 'bench.json'} and bench.md")
    return 1 if any(r.verdict == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
