"""Load from several machines, measured: the Locust master's CPU with two remote workers, and the records
each simulated user makes in a 2-worker run against a 1-process run of the same scenario.

    python bench/distributed.py [--runs 3] [--duration-s 15] [--users 10] [--think-s "0.05, 0.15"]

Each run is a real `harness run` (embedded target and proxy, loopback only). The 2-worker variant is a
master with `--expect-workers 2` and two `harness worker --master` processes (remote workers: their shards
travel home over Locust's messages while the run goes on and at stop). The master's CPU is read from
/proc (utime + stime) over the test's phases and divided by their wall time; a worker's is the peer shown
beside it. Records per user = (attempts + operations) / users, closed loop with think time, so that both
variants stay below saturation on a 2-vCPU machine. A and B alternate; medians of `runs`. Prints the JSON
file it wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET_VAR = "HARNESS_CLIENT_SECRET"  # harness.contract.Env.CLIENT_SECRET (bench/ is outside the package)
SCENARIO = """
name: bench-distributed
seed: 9
load: {{users: {users}, spawn_rate: {users}, think_time_s: [{think}]}}
flows: [{{flow: client_credentials}}]
phases:
  - {{name: steady, duration_s: {duration}}}
"""


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of proc(5))


def run_once(work: Path, users: int, duration: int, workers: int, think: str) -> dict[str, Any]:
    from harness.records import read_records
    from harness.run.journal import read_jsonl
    from harness.run.remote import master_port

    scenario = work / "scenario.yaml"
    scenario.write_text(SCENARIO.format(users=users, duration=duration, think=think))
    out = work / "out"
    env = {**os.environ, SECRET_VAR: "bench-distributed-secret"}
    harness = [sys.executable, "-m", "harness"]
    argv = [*harness, "run", str(scenario), "--out", str(out)]
    remote: list[subprocess.Popen[bytes]] = []
    if workers:
        master = f"127.0.0.1:{master_port()}"
        argv += ["--master-bind", master, "--expect-workers", str(workers)]
    run = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for k in range(workers):
        remote.append(subprocess.Popen([*harness, "worker", "--master", master, "--node", f"bench-{k}", "--out",
                                        str(work / f"w{k}")], env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.STDOUT))  # fmt: skip
    # (monotonic time, CPU ticks) of the master and of the first worker: at the phase's start, and the last
    # reading while it ran. A worker's Locust process can end (its records sent home) before the master
    # writes the phase's end, and its /proc with it: its share is then taken up to its last reading, at
    # most one poll (0.2 s) short, instead of being lost (which left no worker figure in a whole run).
    start: dict[str, tuple[float, int]] = {}
    last: dict[str, tuple[float, int]] = {}
    ended = False
    try:
        while run.poll() is None and not ended:
            time.sleep(0.2)
            timeline = list(out.glob("*/timeline.jsonl"))
            journal = list(out.glob("*/journal.json"))
            if not timeline or not journal:
                continue
            events = read_jsonl(timeline[0])
            kinds = {e["kind"] for e in events}
            try:
                services = json.loads(journal[0].read_text())["services"]
            except (OSError, ValueError):
                continue
            if "phase_start" not in kinds:
                continue
            pid = int(services.get("locust", {}).get("pid", 0))
            joined = [e for e in events if e["kind"] == "worker_joined"]
            now, readings = time.monotonic(), {"master": cpu_ticks(pid), "worker": None}
            if joined:
                readings["worker"] = cpu_ticks(int(joined[0]["pid"]))
            for who, ticks in readings.items():
                if ticks is not None:
                    (last if who in start else start)[who] = (now, ticks)
            ended = bool(kinds & {"phase_end", "timeline_stop"})
        run.wait(timeout=300)
        for w in remote:
            w.wait(timeout=60)
    finally:
        for p in (run, *remote):
            if p.poll() is None:
                p.kill()
                p.wait()
    (run_dir,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    records = sum(read_records(run_dir / "records", kind, ["ts"]).num_rows for kind in ("attempts", "operations"))
    result: dict[str, Any] = {"workers": workers, "exit_code": run.returncode, "records": records,
                              "records_per_user": records / users}  # fmt: skip
    hz = os.sysconf("SC_CLK_TCK")
    if "master" in start and "master" in last:
        result["wall_s"] = last["master"][0] - start["master"][0]
    for who in ("master", "worker"):
        if who in start and who in last and last[who][0] > start[who][0]:
            (t0, c0), (t1, c1) = start[who], last[who]
            result[f"{who}_cpu_share"] = (c1 - c0) / hz / (t1 - t0)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration-s", type=int, default=15)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--think-s", default="0.05, 0.15", help="think time range, LOW, HIGH (s)")
    opts = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"one_process": [], "two_workers": []}
    with tempfile.TemporaryDirectory(prefix="harness-bench-distributed-") as tmp:
        for i in range(opts.runs):  # A and B alternating
            for name, workers in (("one_process", 0), ("two_workers", 2)):
                work = Path(tmp) / f"{name}-{i}"
                work.mkdir()
                result = run_once(work, opts.users, opts.duration_s, workers, opts.think_s)
                runs[name].append(result)
                print(f"{name} run {i + 1}: {json.dumps(result)}", flush=True)
    two = runs["two_workers"]
    medians = {
        "master_cpu_share": statistics.median(r["master_cpu_share"] for r in two if "master_cpu_share" in r),
        "worker_cpu_share": statistics.median(r["worker_cpu_share"] for r in two if "worker_cpu_share" in r),
        "records_per_user_two_workers": statistics.median(r["records_per_user"] for r in two),
        "records_per_user_one_process": statistics.median(r["records_per_user"] for r in runs["one_process"]),
    }
    medians["records_per_user_ratio"] = (medians["records_per_user_two_workers"]
                                         / medians["records_per_user_one_process"])  # fmt: skip
    out = ROOT / "reports" / "bench" / f"distributed-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"settings": vars(opts), "runs": runs, "medians": medians}, indent=2) + "\n")
    print(json.dumps(medians, indent=2))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
