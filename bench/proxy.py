"""Pass-through benchmark of the fault proxy beside nginx direct and haproxy (TCP mode), in one run.

    python bench/proxy.py [--duration-s 8] [--runs 3] [--connections 32] [--only ours_idle_http_toxic]

Expects nginx, haproxy and wrk on PATH (Debian: apt-get install -y nginx-light haproxy wrk); installs
nothing. Loopback only. Paths are run alternating (direct, haproxy, ours, ours + idle HTTP toxic, and
the TLS trio), `runs` times each; the medians are printed and written to reports/bench/<UTC stamp>/
proxy.json. `--only` runs just the named paths of ours beside their references (direct for added
latency, haproxy for the ratio), for a quicker look at one case.

`ours_tls` is TLS on both hops with keep-alive: wrk speaks https to the proxy, which terminates it with a
certificate from a run CA (harness.tlsca) and opens TLS again to nginx's https listener (SNI and
verification against that CA); its peers are nginx's https listener direct (`direct_tls`) and haproxy with
`ssl` on its bind and server lines (`haproxy_tls`), with the same certificates and the same upstream.
"""

from __future__ import annotations

import argparse
import json
import re
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NGINX_CONF = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  server {{ listen 127.0.0.1:{port}; location / {{ root {dir}/www; }} }}
  server {{
    listen 127.0.0.1:{tls_port} ssl; server_name idp.test;
    ssl_certificate {dir}/tls/upstream.pem; ssl_certificate_key {dir}/tls/upstream-key.pem;
    keepalive_requests 1000000;
    location / {{ root {dir}/www; }}
  }}
}}
"""
HAPROXY_CONF = """global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
listen bench
  bind 127.0.0.1:{port}
  server nginx 127.0.0.1:{upstream}
listen bench_tls
  bind 127.0.0.1:{tls_port} ssl crt {dir}/tls/proxy-haproxy.pem
  server nginx 127.0.0.1:{tls_upstream} ssl verify required ca-file {dir}/tls/ca.pem sni str(idp.test)
"""


OURS = ("ours", "ours_idle_http_toxic", "ours_tls")
# each path of ours and the references it is measured beside
REFERENCES = {"ours": ("direct", "haproxy"), "ours_idle_http_toxic": ("direct", "haproxy"),
              "ours_tls": ("direct_tls", "haproxy_tls")}  # fmt: skip
TLS_PATHS = ("direct_tls", "haproxy_tls", "ours_tls")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def stop_all(procs: list[subprocess.Popen[bytes]], timeout_s: float = 5.0) -> None:
    """End the servers a bench started (its own children, by handle): SIGTERM, then SIGKILL if need be."""
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    port: int,
    duration_s: int,
    connections: int,
    path: str = "/f.txt",
    script: Path | None = None,
    env: dict[str, str] | None = None,
    scheme: str = "http",
) -> dict[str, float]:
    """One `wrk -t2 -cN -dS --latency` run on loopback (bench/target.py reuses it with a Lua script)."""
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    argv += ["-s", str(script)] if script is not None else []
    out = subprocess.run(
        [*argv, f"{scheme}://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_s + 30,
        env=env,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": _to_ms(*p99.groups()) if p99 else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=int, default=8)
    parser.add_argument("--warmup-s", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(OURS),
        help=f"comma-separated paths of ours to run (of {', '.join(OURS)}); direct and haproxy always run",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.only) - set(OURS))
    if unknown:
        parser.error(f"unknown path {', '.join(unknown)} (known: {', '.join(OURS)})")
    missing = [tool for tool in ("nginx", "haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install -y nginx-light haproxy wrk", file=sys.stderr)
        return 2

    from harness.proxy.client import ToxiproxyClient
    from harness.tlsca import RunCA

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        (work / "www" / "f.txt").write_text("ok\n")
        ca = RunCA.create(work / "tls")
        ca.issue(["idp.test"], "upstream")  # nginx serves upstream.pem
        proxy_cert = ca.issue(["idp.test", "127.0.0.1"], "proxy")
        # haproxy takes certificate and key in one file; the same certificate and key as ours
        (work / "tls" / "proxy-haproxy.pem").write_bytes(proxy_cert.cert.read_bytes() + proxy_cert.key.read_bytes())
        nginx_port, haproxy_port = free_port(), free_port()
        nginx_tls_port, haproxy_tls_port = free_port(), free_port()
        (work / "nginx.conf").write_text(NGINX_CONF.format(dir=work, port=nginx_port, tls_port=nginx_tls_port))
        (work / "haproxy.cfg").write_text(HAPROXY_CONF.format(
            port=haproxy_port, upstream=nginx_port, tls_port=haproxy_tls_port, tls_upstream=nginx_tls_port, dir=work,
        ))  # fmt: skip
        try:
            procs.append(subprocess.Popen(["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)]))
            procs.append(subprocess.Popen(["haproxy", "-f", str(work / "haproxy.cfg")]))
            for port in (nginx_port, haproxy_port, nginx_tls_port, haproxy_tls_port):
                wait_port(port)
            # Ours runs in a child process of its own, as `harness proxy` would (not sharing this GIL).
            api_port = free_port()
            procs.append(
                subprocess.Popen([sys.executable, "-m", "harness", "proxy", "--port", str(api_port)], cwd=ROOT)
            )
            client = ToxiproxyClient(f"http://127.0.0.1:{api_port}")
            client.wait_ready(timeout_s=15)
            plain = free_port()
            idle = free_port()
            tls = free_port()
            client.create_proxy("plain", f"127.0.0.1:{nginx_port}", listen=f"127.0.0.1:{plain}")
            client.create_proxy("idle_http", f"127.0.0.1:{nginx_port}", listen=f"127.0.0.1:{idle}")
            client.add_toxic("idle_http", "http_error", stream="upstream", attributes={"path": "/never", "status": 503})
            client.create_proxy(
                "tls", f"127.0.0.1:{nginx_tls_port}", listen=f"127.0.0.1:{tls}",
                listen_tls={"cert": str(proxy_cert.cert), "key": str(proxy_cert.key)},
                upstream_tls={"server_name": "idp.test", "ca": str(ca.cert_path)},
            )  # fmt: skip
            ours = {"ours": plain, "ours_idle_http_toxic": idle, "ours_tls": tls}
            references = {"direct": nginx_port, "haproxy": haproxy_port, "direct_tls": nginx_tls_port,
                          "haproxy_tls": haproxy_tls_port}  # fmt: skip
            wanted = {ref for name in args.only for ref in REFERENCES[name]}
            paths = {name: port for name, port in references.items() if name in wanted}
            paths.update((name, port) for name, port in ours.items() if name in args.only)
            for name, port in paths.items():
                wrk(port, args.warmup_s, args.connections, scheme="https" if name in TLS_PATHS else "http")
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
            for run in range(args.runs):
                for name, port in paths.items():
                    scheme = "https" if name in TLS_PATHS else "http"
                    result = wrk(port, args.duration_s, args.connections, scheme=scheme)
                    samples[name].append(result)
                    print(
                        f"run {run + 1} {name:22s} {result['rps']:>10,.0f} req/s  p99 {result['p99_ms']:.2f} ms",
                        flush=True,
                    )
        finally:
            stop_all(procs)
    medians = {
        name: {key: statistics.median(s[key] for s in runs) for key in ("rps", "p99_ms", "non_2xx")}
        for name, runs in samples.items()
    }
    summary: dict[str, Any] = {
        "stamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "setup": {
            "duration_s": args.duration_s,
            "runs": args.runs,
            "connections": args.connections,
            "wrk_threads": 2,
            "file_bytes": 3,
        },
        "medians": medians,
        "ratios": {
            label: medians[name]["rps"] / medians[reference]["rps"]
            for label, name, reference in (
                ("ours_vs_haproxy", "ours", "haproxy"),
                ("ours_idle_http_vs_haproxy", "ours_idle_http_toxic", "haproxy"),
                ("ours_vs_direct", "ours", "direct"),
                ("ours_tls_vs_haproxy_tls", "ours_tls", "haproxy_tls"),
            )
            if name in medians
        },
        # over nginx direct on the same listener kind (plain, or https for the TLS paths)
        "added_p99_ms": {
            name: m["p99_ms"] - medians["direct_tls" if name in TLS_PATHS else "direct"]["p99_ms"]
            for name, m in medians.items()
            if not name.startswith("direct")
        },
        # Each round's ratio to haproxy measured seconds apart, then their median: on a shared machine
        # the load drifts between rounds more than between neighbouring paths of one round.
        "paired_vs_haproxy": {
            name: statistics.median(
                a["rps"] / b["rps"] for a, b in zip(runs, samples[REFERENCES[name][1]], strict=True)
            )
            for name, runs in samples.items()
            if name in REFERENCES
        },
        "runs": samples,
    }
    out_dir = ROOT / "reports" / "bench" / summary["stamp"]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "proxy.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\nmedians:")
    for name, m in medians.items():
        print(f"  {name:22s} {m['rps']:>10,.0f} req/s  p99 {m['p99_ms']:.2f} ms")
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["ratios"].items()))
    paired = summary["paired_vs_haproxy"]
    print("per-round ratio to haproxy, median: " + ", ".join(f"{k} {v:.2f}" for k, v in paired.items()))
    print("added p99: " + ", ".join(f"{k} {v:+.2f} ms" for k, v in summary["added_p99_ms"].items()))
    print(f"written {out_dir / 'proxy.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
