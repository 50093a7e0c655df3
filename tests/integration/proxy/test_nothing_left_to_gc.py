"""`harness proxy` closes both sides of a connection that ended both ways: nothing is left for the GC.

The bench's floor left such connections to the cyclic GC, and uvloop 0.23 frees a transport collected with
its write_eof() still in flight twice (SIGABRT; see tests/integration/test_bench_floor.py). With the GC
off, a transport the proxy does not close stays open and is counted here as a descriptor.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.proxy.client import ToxiproxyClient
from tests.helpers import LOOPBACK, free_port, running_process

pytestmark = pytest.mark.integration

CONNECTIONS = 40
GC_OFF = (
    "import gc, runpy, sys; gc.disable(); sys.argv[0] = 'harness'; runpy.run_module('harness', run_name='__main__')"
)


class AnswerThenClose:
    """An upstream that answers each connection's request, then closes it (nginx at keepalive_requests)."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by the test
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"answer")


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    upstream = AnswerThenClose()
    api = f"http://{LOOPBACK}:{free_port()}"
    argv = [sys.executable, "-c", GC_OFF, "proxy", "--port", api.rsplit(":", 1)[1]]
    try:
        with running_process(argv, log_dir=tmp_path, name="proxy", ready_url=f"{api}/version") as process:
            client = ToxiproxyClient(api)
            created = client.create_proxy("gc", upstream=f"{LOOPBACK}:{upstream.port}", listen=f"{LOOPBACK}:0")
            client.close()
            yield process, int(created["listen"].rsplit(":", 1)[1])
    finally:
        upstream.sock.close()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_connection_ended_both_ways_leaves_no_descriptor(proxy: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = proxy
    time.sleep(0.1)  # the API's connection is gone
    baseline = _open_fds(process.pid)
    for _ in range(CONNECTIONS):
        with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
            sock.sendall(b"request")
            received = b""
            while chunk := sock.recv(65536):  # the upstream's FIN comes through...
                received += chunk
            assert received == b"answer"
        # ...and the client's FIN goes back as the socket closes, as wrk's does when it reconnects
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process.poll() is None and _open_fds(process.pid) > baseline:
        time.sleep(0.02)
    assert process.poll() is None, f"the proxy died: exit status {process.returncode}"
    assert _open_fds(process.pid) <= baseline, f"{_open_fds(process.pid) - baseline} descriptors left open"
