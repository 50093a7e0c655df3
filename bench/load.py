"""Load-generator benchmark: what the harness's retry-aware user costs against plain Locust users.

    python bench/load.py [--measure-s 6] [--min-rounds 5] [--max-rounds 16] [--users 50]

Four users, one GET of nginx's 3-byte file per task, no wait, 50 users in one Locust process each:
  http          Locust HttpUser                      harness       harness Caller (requests + tenacity)
  fast          Locust FastHttpUser                  harness_fast  the same Caller on harness.load.fasttransport
Both sides of a pair do the same work per request: the same transport library and connection reuse
(one keep-alive pool per user; FastSession is FastHttpUser's own UserAgent, cookie jar and all), and every
request reaches Locust's statistics through `events.request` (the harness adds one operation event per
call, its Parquet records and the per-second flush, as in a run).

Each run is measured from inside the Locust process over a window that starts `--warmup-s` after every
user has spawned: requests counted in Locust's statistics, wall time, and the process's own CPU time, so
start-up and shut-down are outside the figures and req/s comes with requests per CPU-second (which the
neighbours on a shared machine move much less). Rounds alternate the four variants, rotating their order,
until each goal's 95% bootstrap interval clears or misses it (bench/rounds.py); with `--paired` each
pair's two runs go back to back instead (bench/README.md says what that and CPU pinning measured).
Expects nginx on PATH; installs nothing; loopback only. Writes reports/bench/<UTC stamp>/load.json. This
file is also the locustfile of the runs (`locust -f bench/load.py CLASS`), with the window in
BENCH_LOAD_WINDOW.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import NGINX_CONF, ROOT, free_port, wait_port  # bench/ is on sys.path: a script or a locustfile
from rounds import MAX_ROUNDS, Goal, assess, paired, run_rounds, variant_medians

VARIANTS = ("http", "harness", "fast", "harness_fast")
CLASS_OF = {"http": "PlainHttp", "harness": "HarnessHttp", "fast": "PlainFast", "harness_fast": "HarnessFast"}
WINDOW_ENV = "BENCH_LOAD_WINDOW"  # "warmup_s:measure_s:result_path", set by the driver for each run
GOALS = (
    Goal("harness_vs_http", "load: retry-aware user vs Locust HttpUser, req/s", "harness", "http", "rps",
         "ratio", 0.95, "req/s"),
    Goal("harness_vs_http_cpu", "load: retry-aware user vs Locust HttpUser, requests per CPU-second", "harness",
         "http", "per_cpu_s", "ratio", 0.95, "req/CPU-s"),
    Goal("fast_vs_fast", "load: retry-aware user on the fast transport vs FastHttpUser, req/s", "harness_fast",
         "fast", "rps", "ratio", 0.90, "req/s"),
    Goal("fast_vs_fast_cpu", "load: retry-aware user on the fast transport vs FastHttpUser, per CPU-second",
         "harness_fast", "fast", "per_cpu_s", "ratio", 0.90, "req/CPU-s"),
)  # fmt: skip


def _locust_classes() -> None:
    """Defined only when Locust imports this file, so the driver never monkey-patches itself."""
    import resource

    import gevent
    from locust import FastHttpUser, HttpUser, User, constant, events, task

    from harness.clients import Caller, RetryPolicy
    from harness.clients.transport import make_session
    from harness.load.fasttransport import FastSession
    from harness.load.recorder import Recorder, settle_heap
    from harness.scenario.model import Retry

    records = tempfile.mkdtemp(prefix="bench-records-")
    events.quitting.add_listener(lambda **_: shutil.rmtree(records, ignore_errors=True))

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
        """What `harness.load.locustfile.SsoUser` makes per user: a session and a Caller writing to the
        process's Recorder (Parquet shards, Locust events)."""

        abstract = True
        wait_time = constant(0)
        session_factory: Any = None

        def on_start(self) -> None:
            plugin = self.environment.bench_plugin
            self.session = type(self).session_factory()
            self.caller = Caller(self.session, plugin["policy"], plugin["recorder"], user=f"bench-u{id(self)}",
                                 node="bench", phase=lambda: "bench")  # fmt: skip
            self.url = f"{self.host}/index.html"

        def on_stop(self) -> None:
            self.session.close()

        @task
        def t(self) -> None:
            self.caller.call("bench", "get", "GET", self.url, endpoint="index")

    class HarnessHttp(_Harness):
        session_factory = staticmethod(make_session)

    class HarnessFast(_Harness):
        session_factory = staticmethod(FastSession)

    def _flush_every_second(recorder: Any) -> None:
        while True:  # as harness.load.locustfile's plugin does (FLUSH_INTERVAL_S; importing it would register
            gevent.sleep(1.0)  # that locustfile's own listeners here)
            recorder.flush()

    def _wire_requests(environment: Any) -> int:
        """Requests on the wire so far: every Locust entry but the harness's operation rows."""
        return sum(e.num_requests for (_, method), e in environment.stats.entries.items() if method != "OP")

    def _cpu_s() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def _measure(environment: Any, warmup_s: float, measure_s: float, path: str) -> None:
        gevent.sleep(warmup_s)
        n0, t0, c0 = _wire_requests(environment), time.perf_counter(), _cpu_s()
        gevent.sleep(measure_s)
        n1, t1, c1 = _wire_requests(environment), time.perf_counter(), _cpu_s()
        failures = sum(e.num_failures for (_, m), e in environment.stats.entries.items() if m != "OP")
        Path(path).write_text(json.dumps({"requests": n1 - n0, "seconds": t1 - t0, "cpu_s": c1 - c0,
                                          "failures": failures}))  # fmt: skip
        environment.runner.quit()

    @events.init.add_listener
    def _on_init(environment: Any, **_: Any) -> None:
        """As the harness's plugin does at init: one recorder per process (its Parquet codec warmed up
        before the test), records flushed every second; and the measuring window."""
        if any(issubclass(cls, _Harness) for cls in environment.user_classes):
            recorder = Recorder(records, f"bench-{os.getpid()}", environment.events.request)
            recorder.warm_up()
            settle_heap()
            environment.bench_plugin = {"recorder": recorder, "policy": RetryPolicy(Retry())}
            gevent.spawn(_flush_every_second, recorder)
        window = os.environ.get(WINDOW_ENV)
        if window:
            warmup_s, measure_s, path = window.split(":", 2)
            environment.events.spawning_complete.add_listener(
                lambda **_: gevent.spawn(_measure, environment, float(warmup_s), float(measure_s), path)
            )

    globals().update(PlainHttp=PlainHttp, PlainFast=PlainFast, HarnessHttp=HarnessHttp, HarnessFast=HarnessFast)


if __name__ != "__main__":
    _locust_classes()


def _one_run(variant: str, host: str, users: int, warmup_s: float, measure_s: float, scratch: Path) -> dict[str, float]:
    result = scratch / f"{variant}-{time.monotonic_ns()}.json"
    run_s = int(users / 50 + warmup_s + measure_s + 30)  # a bound only: the window quits the run itself
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", __file__, CLASS_OF[variant], "--headless", "-u", str(users),
         "-r", str(users), "-t", f"{run_s}s", "--host", host, "--only-summary", "--loglevel", "ERROR",
         "--exit-code-on-error", "0"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=run_s + 60,
        env={**os.environ, WINDOW_ENV: f"{warmup_s}:{measure_s}:{result}"},
    )  # fmt: skip
    if proc.returncode != 0 or not result.exists():  # Locust's summary (stderr) only when something went wrong
        raise RuntimeError(f"locust {variant} exited {proc.returncode} without a result:\n{proc.stderr[-3000:]}")
    got = json.loads(result.read_text())
    return {"rps": got["requests"] / got["seconds"], "per_cpu_s": got["requests"] / got["cpu_s"],
            "cpu_share": got["cpu_s"] / got["seconds"], "failures": got["failures"]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--measure-s", type=float, default=6)
    parser.add_argument("--warmup-s", type=float, default=1.5)
    parser.add_argument("--min-rounds", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=MAX_ROUNDS)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--pairs", default="http,fast", help="which comparisons: http (harness vs HttpUser), fast")
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--paired", action="store_true",
                        help="run each pair's two variants back to back (rounds.paired) instead of rotating all four")
    args = parser.parse_args()
    pairs = {p.strip() for p in args.pairs.split(",")}
    variants = [v for v in VARIANTS if ("fast" if "fast" in v else "http") in pairs]
    goals = [g for g in GOALS if g.peer in variants]
    pairs_run = list(dict.fromkeys((g.ours, g.peer) for g in goals))
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
    try:
        wait_port(port)
        rounds, assessments = run_rounds(
            lambda variant, _: _one_run(variant, host, args.users, args.warmup_s, args.measure_s, scratch),
            variants, goals, min_rounds=args.min_rounds, max_rounds=args.max_rounds,
            order=(lambda index: paired(pairs_run, index)) if args.paired else None,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(scratch, ignore_errors=True)
    medians = variant_medians(rounds)
    scale = Goal("fast_transport_vs_http", "load: FastHttpUser vs HttpUser, per CPU-second (for scale)", "fast", "http",
                 "per_cpu_s", "ratio", 1.0, "req/CPU-s")
    info = [assess(scale, rounds)] if {"fast", "http"} <= set(variants) else []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out_dir or ROOT / "reports" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    summary = {"benchmark": "load", "setup": {"users": args.users, "warmup_s": args.warmup_s,
                                              "measure_s": args.measure_s,
                                              "order": "paired" if args.paired else "rotated"},
               "medians": medians, "assessments": [a.to_json() for a in assessments],
               "info": [a.to_json() for a in info], "rounds": rounds}  # fmt: skip
    (out / "load.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name, m in medians.items():
        print(f"  {name:13s} {m['rps']:8.0f} req/s  {m['per_cpu_s']:8.0f} req/CPU-s  ({m['failures']:.0f} failed)")
    for a in [*assessments, *info]:
        print(f"  {a.what}: {a.estimate:.3f} [{a.low:.3f}, {a.high:.3f}] over {a.rounds} rounds -> {a.verdict}")
    print(f"written {out / 'load.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
