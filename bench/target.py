"""Embedded SSO target vs node oidc-provider v9: token endpoint (client_credentials, RS256 JWT access token,
HTTP Basic client auth) and discovery, the same wrk command against both, in one run.

    python bench/target.py [--duration-s 6] [--min-rounds 5] [--max-rounds 16] [--connections 32] [--out-dir DIR]

Needs wrk and node on PATH and oidc-provider@9 installed in OIDC_PROVIDER_DIR (default
~/.cache/harness-bench/oidc-provider; `make bench` installs it there, outside the repository). The peer is
set up as shared/reference/peers.md says (bench/oidc_provider_server.mjs), as one node process and as two
cluster workers (`peer1`, `peer2`); ours is `harness target` with `--target-workers` processes. Rounds of
wrk over the six (server, endpoint) pairs, in an order that rotates per round, until each goal's 95%
bootstrap interval over the rounds' paired ratios clears or misses it (bench/rounds.py: token >= 1.0,
stretch 1.4; discovery >= 2.0), each goal judged against the peer's configuration with the higher median
req/s on its endpoint over the rounds so far; each server's CPU per request beside req/s. Medians,
assessments (with the configuration that won) and every round go to DIR/target.json (default
reports/bench/<UTC stamp>/). Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from common import free_port, stop_all, tree_pids, wait_port, wrk  # noqa: E402  (one wrk runner for every bench)
from rounds import MAX_ROUNDS, Goal, run_rounds, variant_medians  # noqa: E402

DEFAULT_NODE_DIR = Path.home() / ".cache" / "harness-bench" / "oidc-provider"
CLIENT_ID = "bench-client"
ENDPOINTS = ("discovery", "token")
# node processes of the peer (cluster workers): each runs in every round, a goal meets the one at its best
PEER_WORKERS = (1, 2)
PEERS = tuple(f"peer{n}" for n in PEER_WORKERS)
GOALS = (
    Goal("token", "target vs oidc-provider: token (client_credentials, RS256 JWT)", "ours_token",
         tuple(f"{p}_token" for p in PEERS), "rps", "ratio", 1.0, "req/s", stretch=1.4),
    Goal("discovery", "target vs oidc-provider: discovery", "ours_discovery", tuple(f"{p}_discovery" for p in PEERS),
         "rps", "ratio", 2.0, "req/s"),
)  # fmt: skip
PATHS = {
    "ours": {"discovery": "/.well-known/openid-configuration", "token": "/token"},
    "peer": {"discovery": "/.well-known/openid-configuration", "token": "/token"},
}
BODIES = {
    "ours": "grant_type=client_credentials&scope=api",
    "peer": "grant_type=client_credentials&scope=api&resource=urn%3Abench%3Aapi",
}


def _token_alg(port: int, body: str, auth: str) -> str:
    """Ask once and return the access token's JWS alg: both sides must issue an RS256 JWT, or the
    comparison is of different work."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/token",
        data=body.encode(),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["access_token"]
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"])


def _label(workers: int) -> str:
    return f"oidc-provider, {workers} worker process{'es' if workers > 1 else ''}"


def side(name: str) -> str:
    """"ours", or "peer" for any configuration of the peer (peer1, peer2: its worker count)."""
    return "ours" if name == "ours" else "peer"


def _wait_http(port: int, path: str, timeout_s: float = 30.0) -> None:
    wait_port(port, timeout_s)
    urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s).close()


def _start(
    work: Path, node_dir: Path, secret: str, workers: int
) -> tuple[list[subprocess.Popen[bytes]], dict[str, int]]:
    ports = {"ours": free_port(), **{f"peer{n}": free_port() for n in PEER_WORKERS}}
    logs = {name: open(work / f"{name}.log", "wb") for name in ports}  # noqa: SIM115 - closed with the work dir
    env_ours = {**os.environ, "HARNESS_CLIENT_ID": CLIENT_ID, "HARNESS_CLIENT_SECRET": secret}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "harness", "target", "--port", str(ports["ours"]), "--db", str(work / "t.db"),
             "--workers", str(workers), "--signing-alg", "RS256", "--max-inflight", "100000", "--log-level", "warning"],
            cwd=ROOT, env=env_ours, stdout=logs["ours"], stderr=subprocess.STDOUT,
        ),
        *(subprocess.Popen(
            ["node", str(BENCH / "oidc_provider_server.mjs"), str(ports[f"peer{n}"]), CLIENT_ID, secret, str(n)],
            env={**os.environ, "OIDC_PROVIDER_DIR": str(node_dir)}, stdout=logs[f"peer{n}"], stderr=subprocess.STDOUT,
        ) for n in PEER_WORKERS),
    ]  # fmt: skip
    return procs, ports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=int, default=6)
    parser.add_argument("--warmup-s", type=int, default=2)
    parser.add_argument("--min-rounds", type=int, default=5)
    parser.add_argument("--max-rounds", type=int, default=MAX_ROUNDS)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out-dir", type=Path, default=None)
    # As deployed: one uvicorn worker per core (the issue sizes the goal on a two-process app); the node
    # peer runs as one process and as two cluster workers, both in every round.
    parser.add_argument("--target-workers", type=int, default=2)
    args = parser.parse_args()
    node_dir = Path(os.environ.get("OIDC_PROVIDER_DIR", DEFAULT_NODE_DIR))
    missing = [tool for tool in ("wrk", "node") if shutil.which(tool) is None]
    if missing or not (node_dir / "node_modules" / "oidc-provider").is_dir():
        print(f"bench/target.py: need wrk, node and oidc-provider@9 in {node_dir} (make bench installs them); "
              f"missing: {missing or ['oidc-provider']}", file=sys.stderr)  # fmt: skip
        return 2
    secret = secrets.token_urlsafe(32)
    auth = base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode()
    script = BENCH / "token.lua"
    algs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        procs, ports = _start(Path(tmp), node_dir, secret, args.target_workers)
        procs_of = dict(zip(ports, procs, strict=True))
        try:
            for name, port in ports.items():
                _wait_http(port, PATHS[side(name)]["discovery"])
                algs[name] = _token_alg(port, BODIES[side(name)], auth)
            if set(algs.values()) != {"RS256"}:
                raise RuntimeError(f"both sides must issue RS256 JWT access tokens, got {algs}")

            def one(name: str, endpoint: str, duration_s: float) -> dict[str, float]:
                pids = tree_pids(procs_of[name].pid)
                if endpoint == "token":
                    env = {**os.environ, "BENCH_AUTH": auth, "BENCH_BODY": BODIES[side(name)]}
                    return wrk(ports[name], duration_s, args.connections, PATHS[side(name)]["token"], script, env,
                               pids)  # fmt: skip
                return wrk(ports[name], duration_s, args.connections, PATHS[side(name)]["discovery"],
                           server_pids=pids)  # fmt: skip

            for endpoint in ENDPOINTS:
                for name in ports:
                    one(name, endpoint, args.warmup_s)
            variants = [f"{name}_{endpoint}" for endpoint in ENDPOINTS for name in ("ours", *PEERS)]
            rounds, assessments = run_rounds(
                lambda variant, _: one(*variant.split("_", 1), args.duration_s), variants, GOALS,
                min_rounds=args.min_rounds, max_rounds=args.max_rounds,
            )  # fmt: skip
        finally:
            stop_all(procs, timeout_s=10)
    medians = variant_medians(rounds)
    peer_version = json.loads((node_dir / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    node_version = subprocess.check_output(["node", "--version"], text=True).strip()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out_dir or ROOT / "reports" / "bench" / stamp
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "benchmark": "target",
        "setup": {"duration_s": args.duration_s, "connections": args.connections,
                  "wrk_threads": 2, "ours": f"harness target --workers {args.target_workers} --signing-alg RS256",
                  "peer": f"oidc-provider {peer_version} (node {node_version}), "
                          f"{' or '.join(map(str, PEER_WORKERS))} worker processes, each in every round",
                  "peer_configurations": {f"{p}_{e}": _label(n) for n, p in zip(PEER_WORKERS, PEERS, strict=True)
                                          for e in ENDPOINTS},
                  "access_token_alg": algs},
        "medians": medians, "assessments": [a.to_json() for a in assessments], "rounds": rounds,
    }  # fmt: skip
    (out / "target.json").write_text(json.dumps(summary, indent=2) + "\n")
    for a in assessments:
        medians_of = ", ".join(f"{c} {m:,.0f}" for c, m in a.candidates.items())
        print(f"  {a.what}: {a.estimate:.3f} [{a.low:.3f}, {a.high:.3f}] over {a.rounds} rounds -> {a.verdict}; "
              f"against {a.peer} ({medians_of} req/s)")  # fmt: skip
    print(f"written {out / 'target.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
