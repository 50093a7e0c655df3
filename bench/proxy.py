"""Pass-through benchmark of the fault proxy beside nginx direct, haproxy (TCP mode, at its best thread
count here) and the floor of a Python pass-through (bench/floor_proxy.py), in one run.

    python bench/proxy.py [--duration-s 5] [--min-rounds 5] [--max-rounds 16] [--connections 32]
                          [--only ours,ours_idle_http_toxic,ours_tls]

Expects nginx, haproxy and wrk on PATH (Debian: apt-get install -y nginx-light haproxy wrk); installs
nothing; loopback only. Rounds of `wrk -t2 -cN` over every path (direct, haproxy `nbthread 1` and
`nbthread 2`, floor, ours, ours with an idle HTTP toxic), the order rotating per round, until every goal's
95% bootstrap interval clears or misses it (bench/rounds.py: once a goal is decided, later rounds run only
the paths undecided goals compare). A goal against haproxy is judged against
the thread count at its best on the goal's metric over the rounds so far (the JSON and the report name
it). Besides req/s and p99, each path's server process reports its CPU time per request. Written to
reports/bench/<UTC stamp>/proxy.json. `--only` runs just the named paths of ours beside their references,
for a quicker look at one case.

`ours_tls` is TLS on both hops with keep-alive: wrk speaks https to the proxy, which terminates it with a
certificate from a run CA (harness.tlsca) and opens TLS again to nginx's https listener (SNI and
verification against that CA), both sessions kept by its native relay (OpenSSL from C); its references
are nginx's https listener direct (`direct_tls`) and each haproxy with `ssl` on its bind and server lines
(`haproxy1_tls`, `haproxy2_tls`; the faster of the two with TLS is the peer, whichever won without), the
same certificates and upstream.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import HAPROXY_CONF, NGINX_CONF, ROOT, Servers, free_port, tree_pids, wait_port, wrk
from rounds import MAX_ROUNDS, Goal, assess, run_rounds, variant_medians

IDLE = "ours_idle_http_toxic"
OURS = ("ours", IDLE, "ours_tls")
HAPROXY_THREADS = (1, 2)  # haproxy's configurations (nbthread): each runs in every round, a goal meets its best
HAPROXY = tuple(f"haproxy{t}" for t in HAPROXY_THREADS)
HAPROXY_TLS = tuple(f"{h}_tls" for h in HAPROXY)
CONFIGURATIONS = {  # each haproxy path -> what the report calls it
    **{h: f"haproxy nbthread {t}" for t, h in zip(HAPROXY_THREADS, HAPROXY, strict=True)},
    **{h: f"haproxy nbthread {t}, ssl" for t, h in zip(HAPROXY_THREADS, HAPROXY_TLS, strict=True)},
}
# each path of ours and the references it is measured beside
REFERENCES = {"ours": ("direct", *HAPROXY, "floor"), IDLE: ("direct", *HAPROXY),
              "ours_tls": ("direct_tls", *HAPROXY_TLS, "floor_tls")}  # fmt: skip
ORDER = ("direct", *HAPROXY, "floor", "ours", IDLE, "direct_tls", *HAPROXY_TLS, "floor_tls", "ours_tls")
RESTARTS = 3  # times a path's run is made again after a reference server died under it
GOALS = (
    Goal("ours_vs_haproxy", "proxy: pass-through vs haproxy", "ours", HAPROXY, "rps", "ratio", 1.0, "req/s"),
    Goal("ours_p99_added", "proxy: p99 added over nginx direct", "ours", "direct", "p99_ms", "difference", 1.0,
         "ms"),
    Goal("idle_vs_haproxy", "proxy: idle HTTP toxic vs haproxy", IDLE, HAPROXY, "rps", "ratio", 1.0, "req/s"),
    Goal("idle_p99_added", "proxy: p99 added over nginx direct, idle HTTP toxic", IDLE, "direct", "p99_ms",
         "difference", 1.0, "ms"),
    Goal("tls_vs_haproxy", "proxy: TLS both hops vs haproxy ssl bind+server", "ours_tls", HAPROXY_TLS, "rps",
         "ratio", 0.8, "req/s"),
    Goal("tls_p99_added", "proxy: p99 added, TLS both hops, over nginx https", "ours_tls", "direct_tls", "p99_ms",
         "difference", 2.0, "ms"),
)  # fmt: skip
# Shown, not judged: where the floor stands, and what ours costs above it. The CPU row meets the haproxy
# that spends the least CPU per request (lower_is_better), not the one that won on req/s: the same rule as
# every goal (the peer at its best on the row's own metric), and a CPU figure taken against a configuration
# that spends more per request would flatter ours (in a short run, nbthread 2 won on req/s at 21.8 µs per
# request while nbthread 1 spent 16.0).
INFO = (
    Goal("floor_vs_haproxy", "proxy floor (asyncio Protocol + uvloop) vs haproxy", "floor", HAPROXY, "rps",
         "ratio", 1.0, "req/s"),
    Goal("ours_vs_floor", "proxy: pass-through vs the floor", "ours", "floor", "rps", "ratio", 1.0, "req/s"),
    Goal("ours_cpu_vs_haproxy", "proxy: CPU per request, haproxy / ours", "ours", HAPROXY, "cpu_us_per_req",
         "ratio", 1.0, "µs", lower_is_better=True),
    # where Python's TLS stands: the floor with uvloop's TLS on both hops, and ours above it
    Goal("floor_tls_vs_haproxy", "proxy floor with TLS both hops (uvloop) vs haproxy ssl", "floor_tls", HAPROXY_TLS,
         "rps", "ratio", 0.8, "req/s"),
    Goal("tls_vs_floor", "proxy: TLS both hops vs the TLS floor", "ours_tls", "floor_tls", "rps", "ratio", 1.0,
         "req/s"),
)  # fmt: skip
# The TLS references: an https server block for nginx, an ssl listen section for haproxy (the same
# certificates as ours: a run CA from harness.tlsca).
NGINX_TLS_SERVER = """  server {{
    listen 127.0.0.1:{tls_port} ssl; server_name idp.test;
    ssl_certificate {dir}/tls/upstream.pem; ssl_certificate_key {dir}/tls/upstream-key.pem;
    keepalive_requests 1000000;
    location / {{ root {dir}/www; }}
  }}
"""
HAPROXY_TLS_LISTEN = """listen bench_tls
  bind 127.0.0.1:{tls_port} ssl crt {dir}/tls/proxy-haproxy.pem
  server nginx 127.0.0.1:{tls_upstream} ssl verify required ca-file {dir}/tls/ca.pem sni str(idp.test)
"""


class ServerDied(RuntimeError):
    """A server under test is no longer running: which, and how it ended (common.Servers.dead)."""


def checked_wrk(servers: Servers, *args: Any, **kwargs: Any) -> dict[str, float]:
    """`wrk`, then a look at every server: a death is named (server, pid, exit status or signal, the end of
    its log) whether wrk failed for it or not, since one death can go unseen by a run on another path."""
    failed: subprocess.CalledProcessError | None = None
    try:
        result = wrk(*args, **kwargs)
    except subprocess.CalledProcessError as exc:
        failed = exc
    dead = servers.dead()
    if dead:
        raise ServerDied("; ".join(f"{name}: {how}" for name, how in dead.items()))
    if failed is not None:
        raise RuntimeError(f"wrk exited {failed.returncode}: {(failed.stderr or '').strip()[-300:]}") from None
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=5)
    parser.add_argument("--warmup-s", type=float, default=2)
    parser.add_argument("--min-rounds", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=MAX_ROUNDS)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out-dir", type=Path, default=None)
    parser.add_argument("--only", type=lambda text: text.split(","), default=list(OURS),
                        help=f"comma-separated paths of ours to run (of {', '.join(OURS)})")  # fmt: skip
    args = parser.parse_args()
    unknown = sorted(set(args.only) - set(OURS))
    if unknown:
        parser.error(f"unknown path {', '.join(unknown)} (known: {', '.join(OURS)})")
    missing = [tool for tool in ("nginx", "haproxy", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"missing {', '.join(missing)}: apt-get install -y nginx-light haproxy wrk", file=sys.stderr)
        return 2
    wanted = {*args.only, *(ref for name in args.only for ref in REFERENCES[name])}
    variants = [v for v in ORDER if v in wanted]
    goals = [g for g in GOALS if wanted.issuperset(g.variants)]
    info_goals = [g for g in INFO if wanted.issuperset(g.variants)]

    from harness.proxy.client import ToxiproxyClient
    from harness.tlsca import RunCA

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out_dir or ROOT / "reports" / "bench" / stamp
    # each server's stdout and stderr in a file of its own (a shared stream cannot say who printed what)
    servers = Servers(out / "proxy-logs")
    restarts: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "www").mkdir()
        (work / "www" / "f.txt").write_text("ok\n")
        ca = RunCA.create(work / "tls")
        ca.issue(["idp.test"], "upstream")  # nginx serves upstream.pem
        proxy_cert = ca.issue(["idp.test", "127.0.0.1"], "proxy")
        # haproxy takes certificate and key in one file; the same certificate and key as ours
        (work / "tls" / "proxy-haproxy.pem").write_bytes(proxy_cert.cert.read_bytes() + proxy_cert.key.read_bytes())
        nginx_port, nginx_tls_port = free_port(), free_port()
        nginx_conf = NGINX_CONF.format(dir=work, port=nginx_port).rstrip()
        assert nginx_conf.endswith("}")  # the http block: the https server goes inside it
        nginx_conf = nginx_conf[:-1] + NGINX_TLS_SERVER.format(dir=work, tls_port=nginx_tls_port) + "}\n"
        (work / "nginx.conf").write_text(nginx_conf)
        ports: dict[str, int] = {"direct": nginx_port, "direct_tls": nginx_tls_port}
        server_of: dict[str, str] = {}  # path -> the server process behind it (a name in `servers`)
        try:
            servers.start("nginx", ["nginx", "-c", str(work / "nginx.conf"), "-p", str(work)])
            server_of["direct"] = server_of["direct_tls"] = "nginx"
            for threads, name in zip(HAPROXY_THREADS, HAPROXY, strict=True):
                port, tls_port = free_port(), free_port()
                conf = work / f"{name}.cfg"
                conf.write_text(HAPROXY_CONF.format(port=port, upstream=nginx_port, threads=threads)
                                + HAPROXY_TLS_LISTEN.format(tls_port=tls_port, tls_upstream=nginx_tls_port, dir=work))
                servers.start(name, ["haproxy", "-f", str(conf)])
                ports[name], ports[f"{name}_tls"] = port, tls_port
                server_of[name] = server_of[f"{name}_tls"] = name
            ports["floor"] = free_port()
            servers.start("floor", [sys.executable, str(Path(__file__).parent / "floor_proxy.py"),
                                            str(ports["floor"]), str(nginx_port)])  # fmt: skip
            server_of["floor"] = "floor"
            if "floor_tls" in wanted:
                ports["floor_tls"] = free_port()
                servers.start("floor_tls", [sys.executable, str(Path(__file__).parent / "floor_proxy.py"),
                                            str(ports["floor_tls"]), str(nginx_tls_port), str(proxy_cert.cert),
                                            str(proxy_cert.key), str(ca.cert_path), "idp.test"])  # fmt: skip
                server_of["floor_tls"] = "floor_tls"
            # Ours runs in a child process of its own, as `harness proxy` would (not sharing this GIL).
            api_port = free_port()
            servers.start("ours", [sys.executable, "-X", "faulthandler", "-m", "harness", "proxy", "--port",
                                          str(api_port)], cwd=ROOT)  # fmt: skip
            server_of["ours"] = server_of[IDLE] = server_of["ours_tls"] = "ours"
            client = ToxiproxyClient(f"http://127.0.0.1:{api_port}")
            client.wait_ready(timeout_s=15)
            ports["ours"], ports[IDLE], ports["ours_tls"] = free_port(), free_port(), free_port()
            client.create_proxy("plain", f"127.0.0.1:{nginx_port}", listen=f"127.0.0.1:{ports['ours']}")
            client.create_proxy("idle_http", f"127.0.0.1:{nginx_port}", listen=f"127.0.0.1:{ports[IDLE]}")
            client.add_toxic("idle_http", "http_error", stream="upstream", attributes={"path": "/never", "status": 503})
            client.create_proxy(
                "tls", f"127.0.0.1:{nginx_tls_port}", listen=f"127.0.0.1:{ports['ours_tls']}",
                listen_tls={"cert": str(proxy_cert.cert), "key": str(proxy_cert.key)},
                upstream_tls={"server_name": "idp.test", "ca": str(ca.cert_path)},
            )  # fmt: skip

            def scheme(name: str) -> str:
                return "https" if name.endswith("_tls") else "http"

            for name, port in ports.items():
                wait_port(port)
                if name in wanted:
                    checked_wrk(servers, port, args.warmup_s, args.connections, scheme=scheme(name))

            def one(variant: str, index: int) -> dict[str, float]:
                """A path's run in a round; when a reference server died (not ours: a death of ours is the
                result), it is restarted and the run made again, up to RESTARTS times, and the bench says so."""
                for _ in range(RESTARTS):
                    try:
                        return checked_wrk(servers, ports[variant], args.duration_s, args.connections,
                                           scheme=scheme(variant),
                                           server_pids=tree_pids(servers.procs[server_of[variant]].pid))  # fmt: skip
                    except ServerDied:
                        dead = servers.dead()
                        if not dead or "ours" in dead:
                            raise
                        for name, how in dead.items():
                            print(f"round {index + 1} {variant}: {name} died ({how}); restarted, {variant} "
                                  "measured again", file=sys.stderr)  # fmt: skip
                            restarts.append({"round": index + 1, "path": variant, "server": name, "how": how})
                            servers.restart(name)
                            for path in [p for p, server in server_of.items() if server == name]:
                                wait_port(ports[path])
                raise ServerDied(f"{variant}: its servers died {RESTARTS} times in round {index + 1}")

            rounds, assessments = run_rounds(
                one, variants, goals, min_rounds=args.min_rounds, max_rounds=args.max_rounds
            )
        except ServerDied as exc:
            print(f"proxy bench: NO RESULT: a server under test died: {exc} (logs in {servers.log_dir})",
                  file=sys.stderr)  # fmt: skip
            return 1
        finally:
            servers.stop()
            if (work / "nginx-error.log").exists():  # nginx's master logs a worker's death there
                shutil.copy(work / "nginx-error.log", servers.log_dir / "nginx-error.log")
                for line in (work / "nginx-error.log").read_text(errors="replace").splitlines():
                    if "exited on signal" in line:  # a worker died; its master started another
                        print(f"proxy bench: nginx worker died: {line}", file=sys.stderr)
    info = [assess(goal, rounds) for goal in info_goals]
    medians = variant_medians(rounds)
    summary: dict[str, Any] = {
        "benchmark": "proxy",
        "server_restarts": restarts,  # reference servers that died and were restarted (bench output names them)
        "setup": {"duration_s": args.duration_s, "connections": args.connections, "wrk_threads": 2, "file_bytes": 3,
                  "peer": "haproxy nbthread " + " or ".join(map(str, HAPROXY_THREADS)) + ", each in every round",
                  "peer_configurations": CONFIGURATIONS,
                  "paths": variants},
        "medians": medians,
        "assessments": [a.to_json() for a in assessments],
        "info": [a.to_json() for a in info],
        "rounds": rounds,
    }  # fmt: skip
    (out / "proxy.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\nmedians:")
    for name, m in medians.items():
        print(f"  {name:22s} {m['rps']:>10,.0f} req/s  p99 {m['p99_ms']:.2f} ms  {m['cpu_us_per_req']:.1f} µs CPU/req")
    for a in [*assessments, *info]:
        against = f"; against {a.peer} (" + ", ".join(f"{c} {m:,.1f}" for c, m in a.candidates.items()) + ")"
        print(f"  {a.what}: {a.estimate:.3f} [{a.low:.3f}, {a.high:.3f}] over {a.rounds} rounds -> {a.verdict}"
              + (against if a.candidates else ""))  # fmt: skip
    for r in restarts:
        print(f"  restarted: {r['server']} in round {r['round']} ({r['path']}): {r['how']}")
    print(f"written {out / 'proxy.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
