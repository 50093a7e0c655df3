"""Fault timing: how late fault changes take effect, over 200 changes (issue 11: p99 at most 50 ms).

    python bench/timing.py [--changes 200] [--phase-s 0.05] [--runs 3] [--out-dir DIR]

Drives the real `harness.load.timeline.Timeline` (the code a run uses) with the real proxy client against a
real `harness proxy` process: `changes / 2` back-to-back phases, each applying one `http_error` fault on
`token` at its start and removing it at its end. While it runs, a thread sends token requests through the
proxy to a small upstream on loopback, so the proxy has traffic to match against. Lateness is the
timeline's own `ts - asked_at` per change (the same events a run writes to timeline.jsonl). Medians over
`runs` of the per-run p99 and max go to DIR/timing.json (default reports/bench/<UTC stamp>/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from common import free_port  # noqa: E402

GOAL_P99_MS = 50.0


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: Any) -> None:
        pass


def _traffic(url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(urllib.error.URLError, OSError):  # 503s from the fault are the point
            urllib.request.urlopen(urllib.request.Request(url, data=b"x"), timeout=2).close()


def one_run(api: str, proxy_name: str, changes: int, phase_s: float) -> dict[str, Any]:
    from harness.faults import FaultApplier
    from harness.load.timeline import Timeline, lateness_ms, p99
    from harness.proxy.client import ToxiproxyClient
    from harness.scenario.model import Phase

    fault = {"type": "http_error", "endpoint": "token", "status": 503, "probability": 0.5}
    phases = tuple(
        Phase.model_validate({"name": f"p{i}", "duration_s": phase_s, "faults": [fault]}) for i in range(changes // 2)
    )
    events: list[dict[str, Any]] = []
    client = ToxiproxyClient(api)
    client.get_proxies()  # the keep-alive connection, as the run's warm-up does
    timeline = Timeline(phases, FaultApplier(client, proxy_name), events.append, run_id="bench")
    timeline.run()
    client.close()
    late = lateness_ms(events)
    errors = [e for e in events if e["kind"] == "fault_error"]
    return {"changes": len(late), "errors": len(errors), "p50_ms": statistics.median(late), "p99_ms": p99(late),
            "max_ms": max(late)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--phase-s", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args()
    from harness.proxy.client import ToxiproxyClient

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    api_port, listen_port = free_port(), free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "harness", "proxy", "--port", str(api_port)], cwd=ROOT, stderr=subprocess.DEVNULL
    )
    results = []
    stop = threading.Event()
    try:
        api = f"http://127.0.0.1:{api_port}"
        setup = ToxiproxyClient(api)
        setup.wait_ready(timeout_s=15)
        setup.create_proxy("timing", f"127.0.0.1:{upstream.server_address[1]}", listen=f"127.0.0.1:{listen_port}")
        traffic = threading.Thread(target=_traffic, args=(f"http://127.0.0.1:{listen_port}/token", stop), daemon=True)
        traffic.start()
        for run in range(args.runs):
            result = one_run(api, "timing", args.changes, args.phase_s)
            results.append(result)
            print(f"run {run + 1}: {result['changes']} changes, lateness p50 {result['p50_ms']:.1f} ms, "
                  f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms, {result['errors']} errors")
    finally:
        stop.set()
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
        upstream.shutdown()
    medians = {k: statistics.median(r[k] for r in results) for k in ("p50_ms", "p99_ms", "max_ms")}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out_dir or ROOT / "reports" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    summary = {"benchmark": "timing", "changes": args.changes, "phase_s": args.phase_s, "goal_p99_ms": GOAL_P99_MS,
               "medians": medians, "runs": results}  # fmt: skip
    (out / "timing.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"lateness p99 (median of {args.runs} runs): {medians['p99_ms']:.1f} ms (goal <= {GOAL_P99_MS:g} ms)")
    print(f"written {out / 'timing.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
