"""Load-generator benchmark: what the harness's retry-aware user costs against plain Locust users.

    python bench/load.py [--duration-s 8] [--runs 3] [--users 50]

Four users, one request per task against nginx's static file, no wait, one Locust process each:
  http     plain Locust HttpUser                    harness   Caller (requests + tenacity) + records
  fast     plain Locust FastHttpUser                harness_fast   the same Caller on geventhttpclient
Run alternating (A/B/C/D, `runs` times), medians printed with the ratios harness/http (goal >= 0.95) and
harness_fast/fast (goal >= 0.90), and written to reports/bench/<UTC stamp>/load.json. Expects nginx on
PATH (Debian: apt-get install -y nginx-light); installs nothing; loopback only. Not a test: `make bench`.
This file is also the locustfile of the runs (`locust -f bench/load.py CLASS`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from proxy import NGINX_CONF, free_port  # bench/ is on sys.path: run as a script or as a locustfile

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("http", "harness", "fast", "harness_fast")
CLASS_OF = {"http": "PlainHttp", "harness": "HarnessHttp", "fast": "PlainFast", "harness_fast": "HarnessFast"}


def _locust_classes() -> None:
    """Defined only when Locust imports this file, so the driver never monkey-patches itself."""
    import gevent  # (locust is imported by the locust command first)
    from locust import FastHttpUser, HttpUser, User, constant, events, task

    from harness.clients import Caller, RetryPolicy
    from harness.clients.transport import make_session
    from harness.load.fasttransport import FastSession
    from harness.load.recorder import Recorder
    from harness.scenario.model import Retry

    records = tempfile.mkdtemp(prefix="bench-records-")
    events.quitting.add_listener(lambda **_: shutil.rmtree(records, ignore_errors=True))

    def _flush_every_second(recorder: Any) -> None:
        while True:
            gevent.sleep(1.0)
            recorder.flush()

    class PlainHttp(HttpUser):
        wait_time = constant(0)

        @task
        def t(self) -> None:
            self.client.get("/index.html")

    class PlainFast(FastHttpUser):
        wait_time = constant(0)

        @task
        def t(self) -> None:
            self.client.get("/index.html")

    class _Harness(User):
        abstract = True
        wait_time = constant(0)
        session_factory: Any = None

        def on_start(self) -> None:
            recorder = self.environment.bench_recorder
            self.caller = Caller(
                type(self).session_factory(), RetryPolicy(Retry()), recorder, user="u", node="bench",
                phase=lambda: "bench",
            )  # fmt: skip
            self.url = f"{self.host}/index.html"

        @task
        def t(self) -> None:
            self.caller.call("bench", "get", "GET", self.url, endpoint="index")

    @events.init.add_listener
    def _recorder(environment: Any, **_: Any) -> None:
        """As the harness's plugin does at init: one recorder per process, its Parquet codec warmed up
        before the test (not inside the measured window), flushed once a second (Parquet costs too)."""
        if any(issubclass(cls, _Harness) for cls in environment.user_classes):
            recorder = Recorder(records, f"bench-{os.getpid()}", environment.events.request)
            recorder.warm_up()
            environment.bench_recorder = recorder
            gevent.spawn(_flush_every_second, recorder)

    class HarnessHttp(_Harness):
        session_factory = staticmethod(make_session)

    class HarnessFast(_Harness):
        session_factory = staticmethod(FastSession)

    globals().update(PlainHttp=PlainHttp, PlainFast=PlainFast, HarnessHttp=HarnessHttp, HarnessFast=HarnessFast)


if __name__ != "__main__":
    _locust_classes()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _one_run(variant: str, host: str, users: int, duration_s: int, out: Path) -> dict[str, Any]:
    stats_file = out / f"{variant}-{time.monotonic_ns()}"
    cpu_before = _children_cpu_s()  # nginx is not waited for until the end, so only Locust counts here
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", __file__, CLASS_OF[variant], "--headless", "-u", str(users),
         "-r", str(users), "-t", f"{duration_s}s", "--host", host, "--only-summary", "--loglevel", "ERROR",
         "--json-file", str(stats_file), "--exit-code-on-error", "0"],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL, timeout=duration_s + 60,
    )  # fmt: skip
    cpu_s = _children_cpu_s() - cpu_before
    entries = json.loads(stats_file.with_suffix(".json").read_text())
    # the harness users count attempts and operations as two Locust entries; requests are the attempts
    wire = [e for e in entries if e["method"] != "OP"]
    n = sum(e["num_requests"] for e in wire)
    start = min(e["start_time"] for e in wire)
    end = max(e["last_request_timestamp"] for e in wire)
    failures = sum(e["num_failures"] for e in wire)
    # requests per CPU second of the Locust process: on a shared machine wall-clock rps swings with the
    # neighbours' load, the CPU cost of a request much less (it includes start-up, alike for every variant)
    return {"requests": n, "failures": failures, "seconds": end - start, "rps": n / (end - start),
            "cpu_s": cpu_s, "per_cpu_s": n / cpu_s if cpu_s > 0 else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        print("bench/load.py: nginx not found (apt-get install -y nginx-light)", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    (scratch / "www").mkdir()
    (scratch / "www" / "index.html").write_text("ok\n")
    port = free_port()
    (scratch / "nginx.conf").write_text(NGINX_CONF.format(dir=scratch, port=port))
    server = subprocess.Popen([nginx, "-c", str(scratch / "nginx.conf"), "-p", str(scratch)],
                              stderr=subprocess.DEVNULL)  # fmt: skip
    host = f"http://127.0.0.1:{port}"
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        for run in range(args.runs):
            for variant in VARIANTS:  # alternating, so drift on the machine hits every variant alike
                result = _one_run(variant, host, args.users, args.duration_s, scratch)
                results[variant].append(result)
                print(f"run {run + 1} {variant:<13} {result['rps']:8.0f} req/s {result['per_cpu_s']:8.0f} req/cpu-s "
                      f"({result['failures']} failed)")
    finally:
        server.terminate()
        server.wait(10)
    medians = {v: statistics.median(r["rps"] for r in results[v]) for v in VARIANTS}
    ratios = {
        "harness_vs_http": medians["harness"] / medians["http"],
        "harness_fast_vs_fast": medians["harness_fast"] / medians["fast"],
    }
    per_cpu = {v: statistics.median(r["per_cpu_s"] for r in results[v]) for v in VARIANTS}
    cpu_ratios = {
        "harness_vs_http": per_cpu["harness"] / per_cpu["http"],
        "harness_fast_vs_fast": per_cpu["harness_fast"] / per_cpu["fast"],
    }
    goals = {"harness_vs_http": 0.95, "harness_fast_vs_fast": 0.90}
    for name, ratio in ratios.items():
        print(f"{name}: {ratio:.3f} by req/s, {cpu_ratios[name]:.3f} by req/cpu-s (goal >= {goals[name]:.2f})")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "reports" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(
        {"users": args.users, "duration_s": args.duration_s, "runs": results, "median_rps": medians,
         "ratios": ratios, "median_per_cpu_s": per_cpu, "cpu_ratios": cpu_ratios, "goals": goals,
         "cpus": os.cpu_count()}, indent=2))  # fmt: skip
    print(f"written: {out / 'load.json'}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
