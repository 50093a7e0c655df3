"""Memory over a full-speed run: the load process, the proxy and the target stay flat after warm-up.

    python bench/soak_memory.py [--minutes 10] [--warmup-minutes 2] [--users 20] [--sample-s 5]

`harness run` of a scenario at full speed (20 users with no think time, every OIDC flow, the embedded
target behind the embedded proxy, no faults, /metrics served) for `minutes` (`make bench BENCH_ARGS=--soak`: an hour).
Every `sample-s` the VmRSS of the run's target, proxy and Locust processes is read from /proc (they are
children of the `harness run` this script started), and of the orchestrator (that `harness run` itself:
the live view, /metrics and the timeline live there). After warm-up (allocator pools, caches and the first
Parquet row groups fill), each process is judged by its growth: the median of its last minute against the
median of the minute after warm-up, as a share of the latter (goal: within 5%), and its slope per hour
(Theil-Sen over every post-warm-up sample, robust to the odd spike of a Parquet flush) is stated beside it.
Requests made come from the run's own summary.json, so bytes per request can be stated too.
Loopback only; the run is bounded by its scenario. Writes reports/bench/<UTC stamp>/soak_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, free_port, tree_pids, vmrss_mb  # bench/ is on sys.path when run as a script

GROWTH_LIMIT = 0.05  # within 5% of the size after warm-up
ROLES = ("load", "proxy", "target", "orchestrator")
JUDGED = ("load", "proxy", "target")  # issue 20's three; the orchestrator's figure is shown beside them
STOP_MARGIN_S = 20.0

SCENARIO = """\
name: soak-memory
question: Does any process of a run grow while the load runs at full speed?
seed: 7
target: {{kind: embedded}}
proxy: {{kind: embedded}}
load: {{users: {users}, spawn_rate: {users}, think_time_s: [0, 0]}}
flows:
  - {{flow: client_credentials, weight: 2}}
  - {{flow: refresh_token, weight: 1}}
  - {{flow: jwks_validation, weight: 1}}
  - {{flow: token_introspection, weight: 1}}
  - {{flow: revocation, weight: 1}}
retry:
  stop: {{after_attempt: 4, after_delay_s: 10}}
  wait: {{exponential_jitter: {{initial_s: 0.1, max_s: 2}}}}
  timeout_s: {{connect: 2, read: 5}}
phases:
  - {{name: soak, duration_s: {seconds}}}
slos:
  - {{name: fail-closed, metric: unauthorized_accepted, at_most: 0}}
"""


def role(pid: int) -> str | None:
    """Which of the run's processes this is, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv]
    if any(w.endswith("locust") or w == "locust" for w in words[:3]):
        return "load"
    if "harness" in words and "proxy" in words:
        return "proxy"
    if "harness" in words and ("target" in words or "idp" in words):
        return "target"
    return None



def judge(samples: list[dict[str, float]], who: str, warmup_s: float) -> dict[str, Any]:
    """Growth after warm-up (last minute's median vs the next minute's after warm-up) and the slope per hour."""
    from statistics import median

    from scipy.stats import theilslopes

    points = [(s["t_s"], s[who]) for s in samples if who in s and s["t_s"] >= warmup_s]
    if len(points) < 4:
        return {"error": f"only {len(points)} samples of {who} after warm-up"}
    first = [v for t, v in points if t < points[0][0] + 60]
    last = [v for t, v in points if t > points[-1][0] - 60]
    start, end = median(first), median(last)
    slope = theilslopes([v for _, v in points], [t for t, _ in points])
    return {
        "after_warmup_mb": start,
        "end_mb": end,
        "growth": (end - start) / start,
        "slope_mb_per_h": slope.slope * 3600,
        "slope_interval_mb_per_h": [slope.low_slope * 3600, slope.high_slope * 3600],
        "flat": abs(end - start) / start <= GROWTH_LIMIT,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup-minutes", type=float, default=2.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--sample-s", type=float, default=5.0)
    args = parser.parse_args()

    seconds = round(args.minutes * 60)
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenario = work / "soak-memory.yaml"
        scenario.write_text(SCENARIO.format(users=args.users, seconds=seconds))
        out = work / "run"
        run = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out),
             "--metrics-port", str(free_port())],  # a soak is watched: the exporter runs as it would
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        started = time.monotonic()
        try:
            while run.poll() is None and time.monotonic() - started < seconds + 600:
                sample: dict[str, float] = {"t_s": time.monotonic() - started}
                for pid in tree_pids(run.pid):
                    who = "orchestrator" if pid == run.pid else role(pid)
                    size = vmrss_mb(pid) if who else None
                    if who and size is not None:
                        sample[who] = sample.get(who, 0.0) + size  # a role with helpers counts them all
                if len(sample) > 1:
                    samples.append(sample)
                    if len(samples) % 12 == 0:
                        sizes = "  ".join(f"{w} {sample.get(w, 0):.1f}" for w in ROLES)
                        print(f"{sample['t_s']:7.0f} s  RSS MB  {sizes}", flush=True)
                time.sleep(args.sample_s)
        finally:
            if run.poll() is None:
                run.terminate()  # the run rolls back and stops its children on SIGTERM
            _, err = run.communicate(timeout=120)
        if run.returncode not in (0, 1):
            raise RuntimeError(f"harness run exited {run.returncode}:\n{err.decode(errors='replace')[-2000:]}")
        summary = json.loads(next(out.glob("**/summary.json")).read_text())
    totals = summary["totals"]
    # Samples stop before the end of the load: the run's last seconds (stop, compaction, report) are not the
    # soak. The load's phase begins a few seconds after `harness run` (the stack starts first).
    began = next(s["t_s"] for s in samples if "load" in s)
    samples = [s for s in samples if "load" in s and s["t_s"] <= began + seconds - STOP_MARGIN_S]
    warmup_s = args.warmup_minutes * 60
    processes = {who: judge(samples, who, warmup_s) for who in ROLES}
    requests = totals["attempts"]
    post = requests * max(0.0, 1 - warmup_s / seconds)  # the requests made after warm-up, at an even rate
    for verdict in processes.values():
        if "growth" in verdict and post:
            verdict["bytes_per_request"] = (verdict["end_mb"] - verdict["after_warmup_mb"]) * 2**20 / post
    result: dict[str, Any] = {
        "stamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "minutes": args.minutes,
        "warmup_minutes": args.warmup_minutes,
        "users": args.users,
        "requests": requests,
        "operations": totals["operations"],
        "requests_per_s": requests / seconds,
        "limit": GROWTH_LIMIT,
        "judged": list(JUDGED),
        "processes": processes,
        "samples": samples,
    }
    out_dir = ROOT / "reports" / "bench" / result["stamp"]
    out_dir.mkdir(parents=True, exist_ok=True)
    for who, verdict in processes.items():
        if "growth" in verdict:
            print(f"{who:>6}: {verdict['after_warmup_mb']:.1f} -> {verdict['end_mb']:.1f} MB "
                  f"({100 * verdict['growth']:+.1f}%, slope {verdict['slope_mb_per_h']:+.1f} MB/h)")  # fmt: skip
        else:
            print(f"{who:>6}: {verdict['error']}")
    print(f"{requests:,} requests in {args.minutes:g} min ({requests / seconds:,.0f}/s)")
    (out_dir / "soak_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {out_dir / 'soak_memory.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
