"""`harness target --workers N`: each worker listens on a socket of its own (SO_REUSEPORT), so connections
opened together are spread over the workers, a killed worker's share goes to the others at once, and the
port is still refused to anything else that holds it (another target with workers included)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar

import pytest
import requests
import uvicorn

from harness.chaos import procs
from harness.idp.listeners import Reservation
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process

pytestmark = pytest.mark.integration

T = TypeVar("T")
ENV = {"HARNESS_CLIENT_ID": "it-client", "HARNESS_CLIENT_SECRET": "it-Secret-listeners-7Qx"}


def listening_inodes(port: int) -> set[int]:
    """Socket inodes in LISTEN on `port` (IPv4), from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: TCP_LISTEN
            found.add(int(fields[9]))
    return found


def socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(int(link[8:-1]))
    return found


def listeners_by_process(main: int, port: int) -> dict[int, set[int]]:
    listening = listening_inodes(port)
    return {pid: socket_inodes(pid) & listening for pid in [main, *procs.worker_pids(main)]}


def once_workers_listen(main: int, port: int, workers: int) -> Callable[[], dict[int, set[int]] | None]:
    """Polls for the moment `workers` workers listen: then every process's listening sockets."""

    def check() -> dict[int, set[int]] | None:
        found = listeners_by_process(main, port)
        return found if sum(1 for pid, inodes in found.items() if pid != main and inodes) == workers else None

    return check


def wait_for(predicate: Callable[[], T | None], timeout_s: float = 20.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found is not None:
            return found
        time.sleep(0.1)
    raise TimeoutError("condition not met in time")


def settled(count: Callable[[], int], quiet_s: float = 1.0, timeout_s: float = 20.0) -> int:
    """`count()` once it is above 0 and has not changed for `quiet_s`."""
    deadline, last, since = time.monotonic() + timeout_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif now > 0 and time.monotonic() - since >= quiet_s:
            return now
        time.sleep(0.05)
    raise TimeoutError(f"still changing, or 0, after {timeout_s} s: {last}")


def start(
    tmp_path: Path, port: int, workers: int, name: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp_path / f"{name}.db"),
                        "--workers", str(workers), "--audit-log", str(tmp_path / f"{name}-audit.jsonl"))  # fmt: skip
    return running_process(argv, log_dir=tmp_path / "logs", name=name, env=ENV,
                           ready_url=f"http://{LOOPBACK}:{port}/healthz")  # fmt: skip


def test_each_worker_listens_on_its_own_socket_and_a_killed_workers_socket_goes_with_it(tmp_path: Path) -> None:
    port = free_port()
    with start(tmp_path, port, 2, "t") as process:
        main = process.pid
        by_process = wait_for(once_workers_listen(main, port, 2))
        assert by_process[main] == set(), "the supervisor must not listen: a connection would wait there forever"
        workers = [pid for pid in by_process if pid != main]
        assert len(set().union(*(by_process[w] for w in workers))) == 2, f"one socket each: {by_process}"

        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        # Once the victim is gone, and until its replacement listens, every new connection lands on the
        # survivor: its socket left the kernel's group with it, where a shared one would have stayed.
        wait_for(lambda: True if len(listening_inodes(port)) == 1 else None)
        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = list(pool.map(lambda _: requests.get(f"http://{LOOPBACK}:{port}/healthz", timeout=5).status_code,
                                  range(32)))  # fmt: skip
        assert codes == [200] * 32
        after = wait_for(once_workers_listen(main, port, 2))  # uvicorn's supervisor replaced the worker
        assert victim not in after and after[main] == set()
        assert len(set().union(*after.values())) == 2 == len(listening_inodes(port))


def test_connections_opened_together_are_spread_over_the_workers(tmp_path: Path) -> None:
    port = free_port()
    with start(tmp_path, port, 2, "t") as process:
        wait_for(once_workers_listen(process.pid, port, 2))  # the first to start serves /healthz alone
        sessions = [requests.Session() for _ in range(48)]

        def tokens(session: requests.Session) -> None:
            for _ in range(3):  # three on one keep-alive connection: all from the worker that accepted it
                response = session.post(f"http://{LOOPBACK}:{port}/token", timeout=10,
                                        data={"grant_type": "client_credentials", "scope": "api"},
                                        auth=(ENV["HARNESS_CLIENT_ID"], ENV["HARNESS_CLIENT_SECRET"]))  # fmt: skip
                assert response.status_code == 200, response.text

        with ThreadPoolExecutor(max_workers=48) as pool:
            list(pool.map(tokens, sessions))
    events = [json.loads(line) for line in (tmp_path / "t-audit.jsonl").read_text().splitlines()]
    per_worker: dict[int, int] = {}
    for event in events:
        if event["event"] == "token_issued":
            per_worker[event["pid"]] = per_worker.get(event["pid"], 0) + 1
    # 48 connections hashed over two sockets: all on one would happen once in 2**47 runs
    assert len(per_worker) == 2 and sum(per_worker.values()) == 144, per_worker


def test_the_port_is_refused_while_another_target_with_workers_holds_it(tmp_path: Path) -> None:
    port = free_port()
    with start(tmp_path, port, 2, "first"):
        argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp_path / "second.db"),
                            "--workers", "2")  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**os.environ, **ENV})
    assert result.returncode == 4, result.stderr
    assert f"did not start on {LOOPBACK}:{port}" in result.stderr


def test_a_reservation_is_pickled_as_a_new_socket_on_the_same_port() -> None:
    from multiprocessing.reduction import ForkingPickler

    with Reservation(LOOPBACK, 0) as reservation:
        port = reservation.getsockname()[1]
        with socket.socket() as other, pytest.raises(OSError):  # held against any socket not sharing by
            other.bind((LOOPBACK, port))  # SO_REUSEPORT
        copy = ForkingPickler.loads(ForkingPickler.dumps(reservation))
        with copy:
            assert type(copy) is socket.socket and copy.getsockname() == (LOOPBACK, port)
            assert os.fstat(copy.fileno()).st_ino != os.fstat(reservation.fileno()).st_ino
            assert copy.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1


def test_a_paused_workers_share_of_new_connections_waits_for_it(tmp_path: Path) -> None:
    """What `process_pause` with `target: one` shows a client: as behind a load balancer, the paused
    worker's socket still takes its share of new connections, answered once it runs again."""
    port = free_port()
    with start(tmp_path, port, 2, "t") as process:
        by_process = wait_for(once_workers_listen(process.pid, port, 2))
        paused = next(pid for pid in by_process if pid != process.pid)
        os.kill(paused, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                waiting = [
                    pool.submit(requests.get, f"http://{LOOPBACK}:{port}/healthz", timeout=30) for _ in range(16)
                ]
                answered_while_paused = settled(lambda: sum(f.done() for f in waiting))  # the running one's share
                os.kill(paused, signal.SIGCONT)
                codes = [f.result().status_code for f in waiting]
        finally:
            os.kill(paused, signal.SIGCONT)
    # 16 connections over two sockets: none on the paused one would happen once in 2**16 runs
    assert 0 < answered_while_paused < 16 and codes == [200] * 16


def test_a_worker_that_fails_to_start_stops_the_target_with_an_infrastructure_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn's supervisor stops when a worker exits as a failed start and returns as if all went well;
    `harness target` must not exit 0 then (uvicorn.run with workers did)."""
    from uvicorn.config import STARTUP_FAILURE

    from harness.errors import InfrastructureError
    from harness.idp.server import APP_FACTORY, serve_workers

    class FailedStart:  # the supervisor after a worker exited with STARTUP_FAILURE and it stopped
        def __init__(self, config: object, sockets: list[socket.socket]) -> None:
            assert isinstance(sockets[0], Reservation)
            self.processes = [SimpleNamespace(exitcode=0), SimpleNamespace(exitcode=STARTUP_FAILURE)]

        def run(self) -> None:
            pass

    monkeypatch.setattr("uvicorn.supervisors.Multiprocess", FailedStart)
    port = free_port()
    with pytest.raises(InfrastructureError, match=f"did not start on {LOOPBACK}:{port}"):
        serve_workers(uvicorn.Config(APP_FACTORY), argparse.Namespace(host=LOOPBACK, port=port))
    with socket.socket() as again:  # and the port was let go
        again.bind((LOOPBACK, port))
