"""The fault proxy's memory over a million proxied connections: no per-connection leak.

    python bench/proxy_memory.py [--connections-total 1000000] [--burst-s 8]

nginx serves a small file on loopback; `harness proxy` (its own process, as in a run) forwards to it with
an idle HTTP toxic installed (so the request-framing path is exercised too). wrk sends every request with
`Connection: close`, so each request is a new TCP connection through the proxy, in bursts of `burst-s`
seconds until the total is reached. The proxy's VmRSS is sampled after every burst; the verdict compares
the last sample with the first one after warm-up (allocator pools fill during the first burst).
Written to reports/bench/<UTC stamp>/proxy_memory.json. Not a test: `make bench`.
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

# bench/ is on sys.path when run as a script
from common import NGINX_CONF, ROOT, free_port, stop_all, vmrss_mb, wait_port

GROWTH_LIMIT_MB = 5.0  # flat: what the last sample may exceed the post-warm-up one by


def proxy_rss_mb(pid: int) -> float:
    size = vmrss_mb(pid)
    if size is None:
        raise RuntimeError(f"no VmRSS for pid {pid}: the proxy is gone")
    return size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections-total", type=int, default=1_000_000)
    parser.add_argument("--burst-s", type=int, default=8, help="one wrk burst between two RSS samples")
    parser.add_argument("--runs", type=int, default=1, help="accepted for bench/run.py; one run is enough")
    parser.add_argument("--duration-s", type=int, default=0, help="accepted for bench/run.py; unused")
    args = parser.parse_args()

    from harness.proxy.client import ToxiproxyClient

    procs: list[subprocess.Popen[bytes]] = []
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        (work / "www" / "f.txt").write_text("ok\n")
        nginx_port = free_port()
        (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, port=nginx_port))
        try:
            procs.append(subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)]))
            wait_port(nginx_port)
            api_port = free_port()
            proxy = subprocess.Popen([sys.executable, "-m", "harness", "proxy", "--port", str(api_port)], cwd=ROOT)
            procs.append(proxy)
            client = ToxiproxyClient(f"http://127.0.0.1:{api_port}")
            client.wait_ready(timeout_s=15)
            listen = free_port()
            client.create_proxy("mem", f"127.0.0.1:{nginx_port}", listen=f"127.0.0.1:{listen}")
            client.add_toxic("mem", "http_error", stream="upstream", attributes={"path": "/never", "status": 503})
            samples.append({"connections": 0, "rss_mb": proxy_rss_mb(proxy.pid)})
            done = 0
            while done < args.connections_total:
                # bursts of wrk (it has no request-count flag); each request is one connection
                out = subprocess.run(
                    ["wrk", "-t2", "-c32", f"-d{args.burst_s}s", "-H", "Connection: close",
                     f"http://127.0.0.1:{listen}/f.txt"],
                    capture_output=True, text=True, check=True, timeout=args.burst_s + 60,
                ).stdout  # fmt: skip
                done += _completed(out)
                rss = proxy_rss_mb(proxy.pid)
                samples.append({"connections": done, "rss_mb": rss, "t_s": time.monotonic() - started})
                print(f"{done:>10,} connections  proxy RSS {samples[-1]['rss_mb']:.1f} MB", flush=True)
        finally:
            stop_all(procs)
    warm = samples[1]["rss_mb"] if len(samples) > 2 else samples[0]["rss_mb"]
    growth = samples[-1]["rss_mb"] - warm
    summary: dict[str, Any] = {
        "stamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "connections": samples[-1]["connections"],
        "rss_start_mb": samples[0]["rss_mb"],
        "rss_after_warmup_mb": warm,
        "rss_end_mb": samples[-1]["rss_mb"],
        "growth_after_warmup_mb": growth,
        "limit_mb": GROWTH_LIMIT_MB,
        "flat": growth <= GROWTH_LIMIT_MB,
        "samples": samples,
    }
    out_dir = ROOT / "reports" / "bench" / summary["stamp"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "proxy_memory.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"growth after warm-up: {growth:+.1f} MB over {summary['connections']:,} connections "
          f"(limit {GROWTH_LIMIT_MB:g} MB)")  # fmt: skip
    print(f"written {out_dir / 'proxy_memory.json'}")
    return 0


def _completed(out: str) -> int:
    import re

    found = re.search(r"(\d+) requests in", out)
    if found is None:
        raise RuntimeError(f"wrk printed no request count:\n{out}")
    return int(found.group(1))


if __name__ == "__main__":
    sys.exit(main())
