"""What bringing a remote worker's records home adds at stop, per million records.

    python bench/homing.py [--records 1000000] [--runs 3]

Two processes on loopback, each a real Locust runner with the harness's own master and worker sides
(harness.load.distributed): a worker whose records directory already holds N records in one-second shards
(as a worker at ~3,000 records/s writes them; the trickle during the run is switched off, so everything
travels at stop, the worst case), and a master. Timed: the master's stop handshake (flush request, the
worker sending every shard in chunks, the master checking it holds them all, the release), for N records
and for none; the difference is what bringing them home adds. Prints the JSON file it wrote.
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
ROWS_PER_SHARD = 1500  # one second of one kind at ~3,000 records/s


def make_records(directory: Path, node: str, records: int) -> int:
    from harness.records import ATTEMPT_SCHEMA, OPERATION_SCHEMA, ShardWriter

    writers = {kind: ShardWriter(directory, kind, node) for kind in ("attempts", "operations")}
    schemas = {"attempts": ATTEMPT_SCHEMA, "operations": OPERATION_SCHEMA}
    made, second = 0, 0
    while made < records:
        for kind, writer in writers.items():
            n = min(ROWS_PER_SHARD, records - made)
            for i in range(n):
                row: dict[str, Any] = {name: None for name in schemas[kind].names}
                row |= {"ts": 1.8e9 + second + i / n, "op_id": f"{os.urandom(6).hex()}{i:x}",
                        "flow": "client_credentials", "step": "token", "outcome": "ok", "status": 200,
                        "latency_ms": 3.0 + i % 17, "phase": "p", "user": f"{node}-u{i % 50}", "node": node}
                if kind == "attempts":
                    row |= {"endpoint": "token", "method": "POST", "attempt": 1, "bytes": 812, "error": ""}
                else:
                    row |= {"attempts": 1, "backoff_ms": 0.0}
                writer.append(row)
            writer.flush()
            made += n
        second += 1
    return sum(p.stat().st_size for p in directory.glob("*.parquet"))


def worker(port: int, records_dir: str) -> int:
    import gevent
    from locust import User, events, task
    from locust.env import Environment

    from harness.contract import READY, SETUP
    from harness.load.distributed import WorkerSide
    from harness.load.recorder import Recorder

    class Idle(User):
        @task
        def nothing(self) -> None:
            gevent.sleep(1)

    env = Environment(user_classes=[Idle], events=events)
    runner = env.create_worker_runner("127.0.0.1", port)
    recorder = Recorder(records_dir, "far")
    side = WorkerSide(env, recorder, "far", True, lambda run_id: records_dir)  # no web UI test: one directory
    runner.register_message(SETUP, lambda environment, msg, **_: runner.send_message(READY, None))
    for greenlet in side.register():
        greenlet.kill()  # no trickle: every record travels at stop
    from harness.contract import HELLO
    from harness.load.distributed import hello_of

    runner.send_message(HELLO, hello_of("far", remote=True))
    runner.greenlet.join()
    return 0


def master(port: int, home: str) -> dict[str, Any]:
    import gevent
    from locust import User, events, task
    from locust.env import Environment

    from harness.load.distributed import MasterSide

    class Idle(User):
        @task
        def nothing(self) -> None:
            gevent.sleep(1)

    env = Environment(user_classes=[Idle], events=events)
    runner = env.create_master_runner("127.0.0.1", port)
    emitted: list[dict[str, Any]] = []
    setup = {"run_id": "bench", "scenario_yaml": "", "base_url": "", "target_url": "", "client_id": "", "seed": 0,
             "user_count": 0, "phase": "p", "started_at": None, "origins": [], "endpoints": {}, "ca_pem": None}  # fmt: skip
    side = MasterSide(env, emitted.append, lambda: "p", lambda: setup, Path(home))  # type: ignore[arg-type, return-value]
    side.register()
    deadline = time.monotonic() + 60
    while side.roll.count < 1 and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if side.roll.count < 1:
        raise SystemExit("bench/homing.py: the worker never joined")
    gevent.sleep(0.5)
    cpu0, started = time.process_time(), time.perf_counter()
    side._on_test_stopping()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    (home_event,) = [e for e in emitted if e["kind"] == "records_home"]
    runner.quit()
    return {"seconds": seconds, "master_cpu_s": cpu, "complete": home_event["complete"], "files": home_event["files"],
            "bytes": home_event["bytes"]}  # fmt: skip


def one(records: int, work: Path) -> dict[str, Any]:
    from harness.run.remote import master_port

    worker_dir, home = work / "worker", work / "home"
    worker_dir.mkdir(parents=True)
    size = make_records(worker_dir, "far", records) if records else 0
    port = master_port()
    me = [sys.executable, __file__]
    m = subprocess.Popen([*me, "--role", "master", "--port", str(port), "--dir", str(home)], stdout=subprocess.PIPE,
                         text=True)  # fmt: skip
    w = subprocess.Popen([*me, "--role", "worker", "--port", str(port), "--dir", str(worker_dir)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        out, _ = m.communicate(timeout=600)
    finally:
        for p in (m, w):
            if p.poll() is None:
                p.kill()
                p.wait()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    held = sorted(p.name for p in home.glob("*.parquet"))
    assert held == sorted(p.name for p in worker_dir.glob("*.parquet")), "not every shard came home"
    return {**result, "records": records, "shard_bytes": size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--role", choices=["master", "worker"], default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", default="")
    opts = parser.parse_args()
    if opts.role == "worker":
        return worker(opts.port, opts.dir)
    if opts.role == "master":
        print(json.dumps(master(opts.port, opts.dir)), flush=True)
        return 0
    runs: dict[str, list[dict[str, Any]]] = {"none": [], "full": []}
    with tempfile.TemporaryDirectory(prefix="harness-homing-") as tmp:
        for i in range(opts.runs):  # A and B alternating
            for name, n in (("none", 0), ("full", opts.records)):
                runs[name].append(one(n, Path(tmp) / f"{name}-{i}"))
                print(f"{name} run {i + 1}: {runs[name][-1]['seconds']:.2f} s", flush=True)
    none = statistics.median(r["seconds"] for r in runs["none"])
    full = statistics.median(r["seconds"] for r in runs["full"])
    added_per_million = (full - none) / (opts.records / 1e6)
    out = ROOT / "reports" / "bench" / f"homing-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"records": opts.records, "runs": runs, "median_s": {"none": none, "full": full},
                               "added_s_per_million": added_per_million,
                               "shard_bytes": runs["full"][0]["shard_bytes"]}, indent=2) + "\n")  # fmt: skip
    print(f"stop handshake: {none:.2f} s with no records, {full:.2f} s with {opts.records:,}; "
          f"adds {added_per_million:.2f} s per million records")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
