"""`python -m harness proxy` as a process: SIGTERM closes its listeners within a second, and its own
memory (VmRSS of the proxy process, not of the test) stays flat over many short connections."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.proxy.client import ToxiproxyClient
from tests.helpers import LOOPBACK, free_port, harness_argv, stop_process, wait_http_ok

pytestmark = pytest.mark.integration
REQUEST = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"


def _vmrss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _refuses(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=0.2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def proxy_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], ToxiproxyClient]]:
    port = free_port()
    with open(tmp_path / "proxy.err", "wb") as err:
        process = subprocess.Popen(harness_argv("proxy", "--port", str(port)), stderr=err)
        try:
            wait_http_ok(f"http://{LOOPBACK}:{port}/version", timeout_s=20, process=process)
            client = ToxiproxyClient(f"http://{LOOPBACK}:{port}")
            yield process, client
            client.close()
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def closing_upstream() -> Iterator[int]:
    script = Path(__file__).with_name("closing_upstream.py")
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        stop_process(process)


def test_sigterm_closes_listeners_within_a_second(proxy_process, closing_upstream: int) -> None:
    process, client = proxy_process
    listen_port = int(client.create_proxy("sso", upstream=f"{LOOPBACK}:{closing_upstream}")["listen"].rsplit(":", 1)[1])
    held = socket.create_connection((LOOPBACK, listen_port), timeout=2)  # an open connection must not hold it up
    assert not _refuses(listen_port)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    while not _refuses(listen_port):
        assert time.monotonic() - started < 1.0, "proxy listener still accepting 1 s after SIGTERM"
        time.sleep(0.005)
    closed_after_s = time.monotonic() - started
    assert closed_after_s < 1.0
    assert process.wait(timeout=10) == 0
    held.close()


def _churn(port: int, count: int) -> None:
    for _ in range(count):
        with socket.create_connection((LOOPBACK, port), timeout=3) as sock:
            sock.sendall(REQUEST)
            while sock.recv(65536):
                pass


def test_proxy_process_memory_flat_over_20k_connections(proxy_process, closing_upstream: int) -> None:
    process, client = proxy_process
    listen = client.create_proxy("churn", upstream=f"{LOOPBACK}:{closing_upstream}")["listen"]
    port = int(listen.rsplit(":", 1)[1])
    _churn(port, 3000)  # warm-up: allocator pools, caches and the loop's structures reach their size
    before_kib = _vmrss_kib(process.pid)
    started = time.monotonic()
    samples = []
    for _ in range(4):
        _churn(port, 5000)
        samples.append(_vmrss_kib(process.pid))
    elapsed_s = time.monotonic() - started
    grown_kib = samples[-1] - before_kib
    # A leak of even 200 bytes per connection would show as 4 MB over 20,000.
    assert grown_kib < 3_000, f"proxy RSS {before_kib} KiB -> {samples} KiB over 20,000 connections"
    # A connection is active until the proxy has closed both sides, which can come just after the client
    # read its end: polled, as the TLS churn test does (a read at once saw 1 on a busy machine).
    settle = time.monotonic() + 5
    while 'harness_proxy_connections_active{proxy="churn"} 0' not in (metrics := client.metrics()) \
            and time.monotonic() < settle:
        time.sleep(0.02)
    assert 'harness_proxy_connections_active{proxy="churn"} 0' in metrics
    assert 'harness_proxy_connections_total{proxy="churn"} 23000' in metrics
    assert elapsed_s < 60
