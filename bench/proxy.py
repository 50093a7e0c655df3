"""Pass-through benchmark of the fault proxy beside nginx direct, haproxy (TCP mode, at its best thread
count here) and the floor of a Python pass-through (bench/floor_proxy.py), in one run.

    python bench/proxy.py [--duration-s 5] [--min-rounds 5] [--max-rounds 10] [--connections 32]

Expects nginx, haproxy and wrk on PATH (Debian: apt-get install -y nginx-light haproxy wrk); installs
nothing; loopback only. First haproxy `nbthread 1` and `nbthread 2` run in short interleaved rounds and the
faster one is the peer. Then rounds of `wrk -t2 -cN` over every path (direct, haproxy, floor, ours, ours
with an idle HTTP toxic), the order rotating per round, until every goal's 95% bootstrap interval clears
or misses it (bench/rounds.py). Besides req/s and p99, each path's server process reports its CPU time per
request. Written to reports/bench/<UTC stamp>/proxy.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import HAPROXY_CONF, NGINX_CONF, ROOT, free_port, stop_all, tree_pids, wait_port, wrk
from rounds import Goal, pick_best, run_rounds

IDLE = "ours_idle_http_toxic"
VARIANTS = ("direct", "haproxy", "floor", "ours", IDLE)
HAPROXY_THREADS = (1, 2)
GOALS = (
    Goal("ours_vs_haproxy", "proxy: pass-through vs haproxy", "ours", "haproxy", "rps", "ratio", 1.0, "req/s"),
    Goal("idle_vs_haproxy", "proxy: idle HTTP toxic vs haproxy", IDLE, "haproxy", "rps", "ratio", 1.0, "req/s"),
    Goal("ours_p99_added", "proxy: p99 added over nginx direct", "ours", "direct", "p99_ms", "difference", 1.0,
         "ms"),
    Goal("idle_p99_added", "proxy: p99 added over nginx direct, idle HTTP toxic", IDLE, "direct", "p99_ms",
         "difference", 1.0, "ms"),
)  # fmt: skip
# Shown, not judged: where the floor stands, and what ours costs above it.
INFO = (
    Goal("floor_vs_haproxy", "proxy floor (asyncio Protocol + uvloop) vs haproxy", "floor", "haproxy", "rps",
         "ratio", 1.0, "req/s"),
    Goal("ours_vs_floor", "proxy: pass-through vs the floor", "ours", "floor", "rps", "ratio", 1.0, "req/s"),
    Goal("ours_cpu_vs_haproxy", "proxy: CPU per request, haproxy / ours", "haproxy", "ours", "cpu_us_per_req",
         "ratio", 1.0),
)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=5)
    parser.add_argument("--warmup-s", type=float, default=2)
    parser.add_argument("--select-s", type=float, default=3, help="each run of the peer's selection")
    parser.add_argument("--min-rounds", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()
    missing = [tool for tool in ("nginx", "haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install -y nginx-light haproxy wrk", file=sys.stderr)
        return 2

    from harness.proxy.client import ToxiproxyClient

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        (work / "www" / "f.txt").write_text("ok\n")
        nginx_port = free_port()
        (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, port=nginx_port))
        ports: dict[str, int] = {"direct": nginx_port}
        pids: dict[str, list[int]] = {}
        try:
            procs.append(subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)]))
            pids["direct"] = [procs[-1].pid]
            for threads in HAPROXY_THREADS:
                name, port = f"haproxy_nbthread_{threads}", free_port()
                conf = work / f"{name}.cfg"
                conf.write_text(HAPROXY_CONF.format(port=port, upstream=nginx_port, threads=threads))
                procs.append(subprocess.Popen(["haproxy", "-f", str(conf)]))
                ports[name], pids[name] = port, [procs[-1].pid]
            ports["floor"] = free_port()
            procs.append(subprocess.Popen([sys.executable, str(Path(__file__).parent / "floor_proxy.py"),
                                           str(ports["floor"]), str(nginx_port)]))  # fmt: skip
            pids["floor"] = [procs[-1].pid]
            # Ours runs in a child process of its own, as `harness proxy` would (not sharing this GIL).
            api_port = free_port()
            procs.append(
                subprocess.Popen([sys.executable, "-m", "harness", "proxy", "--port", str(api_port)], cwd=ROOT)
            )
            pids["ours"] = pids[IDLE] = [procs[-1].pid]
            client = ToxiproxyClient(f"http://127.0.0.1:{api_port}")
            client.wait_ready(timeout_s=15)
            ports["ours"], ports[IDLE] = free_port(), free_port()
            client.create_proxy("plain", f"127.0.0.1:{nginx_port}", listen=f"127.0.0.1:{ports['ours']}")
            client.create_proxy("idle_http", f"127.0.0.1:{nginx_port}", listen=f"127.0.0.1:{ports[IDLE]}")
            client.add_toxic("idle_http", "http_error", stream="upstream", attributes={"path": "/never", "status": 503})
            for port in ports.values():
                wait_port(port)
                wrk(port, args.warmup_s, args.connections)

            candidates = [f"haproxy_nbthread_{t}" for t in HAPROXY_THREADS]
            best, selection = pick_best(
                lambda name: wrk(ports[name], args.select_s, args.connections)["rps"], candidates
            )
            ports["haproxy"], pids["haproxy"] = ports[best], pids[best]

            def one(variant: str, _: int) -> dict[str, float]:
                return wrk(ports[variant], args.duration_s, args.connections, server_pids=tree_pids(pids[variant][0]))

            rounds, assessments = run_rounds(
                one, VARIANTS, GOALS, min_rounds=args.min_rounds, max_rounds=args.max_rounds
            )
        finally:
            stop_all(procs)
    from rounds import assess

    info = [assess(goal, rounds) for goal in INFO]
    medians = {v: {k: statistics.median(r[v][k] for r in rounds) for k in rounds[0][v]} for v in VARIANTS}
    summary: dict[str, Any] = {
        "benchmark": "proxy",
        "setup": {"duration_s": args.duration_s, "connections": args.connections, "wrk_threads": 2, "file_bytes": 3,
                  "peer": best, "peer_selection_rps": selection},
        "medians": medians,
        "assessments": [a.to_json() for a in assessments],
        "info": [a.to_json() for a in info],
        "rounds": rounds,
    }  # fmt: skip
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out_dir or ROOT / "reports" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    (out / "proxy.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\npeer: {best}; medians:")
    for name, m in medians.items():
        print(f"  {name:22s} {m['rps']:>10,.0f} req/s  p99 {m['p99_ms']:.2f} ms  {m['cpu_us_per_req']:.1f} µs CPU/req")
    for a in [*assessments, *info]:
        print(f"  {a.what}: {a.estimate:.3f} [{a.low:.3f}, {a.high:.3f}] over {a.rounds} rounds -> {a.verdict}")
    print(f"written {out / 'proxy.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
