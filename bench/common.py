"""What every bench script shares: ports, the servers' configurations, wrk, and CPU time per process tree.

Not a test and not part of the harness package: `make bench` runs the scripts beside this file (bench/ is on
sys.path when they run as scripts or as a locustfile).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
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
}}
"""
# haproxy 2.6 starts one thread per CPU by default; `nbthread` pins it (bench/proxy.py tries 1 and 2).
HAPROXY_CONF = """global
  maxconn 4096
  nbthread {threads}
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
listen bench
  bind 127.0.0.1:{port}
  server nginx 127.0.0.1:{upstream}
"""
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


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
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def describe_exit(returncode: int) -> str:
    """`exited 1` or `killed by SIGABRT (6)`: what Popen.returncode says about how a process ended."""
    if returncode >= 0:
        return f"exited {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = "signal"
    return f"killed by {name} ({-returncode})"


class Servers:
    """The servers a bench starts, each with its stderr (and stdout) in a log file of its own, so that a
    server that dies is named with how it died and what it printed, instead of a shared stream's glibc
    message and a client's "connection refused" that say neither which nor how."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._argv: dict[str, tuple[list[str], dict[str, object]]] = {}
        self.deaths: list[str] = []  # every death seen, in order, as `describe` wrote it

    def start(self, name: str, argv: list[str], **popen: object) -> subprocess.Popen[bytes]:
        self._argv[name] = (argv, popen)
        with open(self.log_dir / f"{name}.log", "ab") as log:  # the child keeps its own descriptor
            proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **popen
            )
        self.procs[name] = proc
        return proc

    def dead(self) -> dict[str, str]:
        """Each server that is no longer running -> `pid N exited 1` / `pid N killed by SIGSEGV (11)`,
        with the last lines of its log."""
        found = {}
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = self.tail(name)
                ends = f"; its log ends: {tail}" if tail else ""
                found[name] = f"pid {proc.pid} {describe_exit(proc.returncode)}{ends}"
        return found

    def tail(self, name: str, lines: int = 5) -> str:
        try:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        argv, popen = self._argv[name]
        with open(self.log_dir / f"{name}.log", "ab") as log:
            log.write(f"--- restarted after: {self.dead().get(name, 'death')}\n".encode())
        return self.start(name, argv, **popen)

    def stop(self) -> None:
        stop_all(list(self.procs.values()))


def vmrss_mb(pid: int) -> float | None:
    """The resident size of a process in MB (VmRSS); None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces; fields after it do not


def tree_pids(root: int) -> list[int]:
    """`root` and every process below it (uvicorn's and node's workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (every thread of each)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return total / TICKS_PER_S


def _to_ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    port: int,
    duration_s: float,
    connections: int,
    path: str = "/f.txt",
    script: Path | None = None,
    env: dict[str, str] | None = None,
    server_pids: list[int] | None = None,
    scheme: str = "http",
) -> dict[str, float]:
    """One `wrk -t2 -cN -dS --latency` run on loopback: req/s, p99 and non-2xx counts; with `server_pids`,
    also the CPU those processes spent per request (µs), which neighbours on a shared machine move much
    less than req/s."""
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{duration_s:g}s", "--latency"]
    argv += ["-s", str(script)] if script is not None else []
    before = cpu_s(server_pids) if server_pids else 0.0
    out = subprocess.run(
        [*argv, f"{scheme}://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True, timeout=duration_s + 30, env=env,
    ).stdout  # fmt: skip
    spent = cpu_s(server_pids) - before if server_pids else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result = {
        "rps": rps,
        "p99_ms": _to_ms(*p99.groups()) if p99 else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }
    if server_pids:
        result["cpu_us_per_req"] = spent / total * 1e6 if total else float("nan")
    return result
