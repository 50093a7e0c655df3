"""`harness proxy` closes both sides of a connection that ended both ways: nothing is left for the GC, and
nothing left open by the native relay either (which closes such a connection itself).

The bench's floor left such connections to the cyclic GC, and uvloop 0.23 frees a transport collected with
its write_eof() still in flight twice (SIGABRT; see tests/integration/test_bench_floor.py). With the GC
off, a transport the proxy does not close stays open and is counted here as a descriptor.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.proxy.client import ToxiproxyClient
from tests.helpers import LOOPBACK, AnswerThenClose, descriptors_left, free_port, open_descriptors, running_process

pytestmark = pytest.mark.integration

CONNECTIONS = 40
GC_OFF = (
    "import gc, runpy, sys; gc.disable(); sys.argv[0] = 'harness'; runpy.run_module('harness', run_name='__main__')"
)


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


@pytest.mark.parametrize(
    "request_bytes",
    [b"request", b"GET / HTTP/1.1\r\nHost: idp\r\n\r\n"],
    ids=["not-http-so-python", "http-so-native-relay"],
)
def test_a_connection_ended_both_ways_leaves_no_descriptor(
    proxy: tuple[subprocess.Popen[bytes], int], request_bytes: bytes
) -> None:
    process, port = proxy
    # one connection first: the native relay (its thread, epoll and eventfds) starts with the first
    AnswerThenClose.end_both_ways(port, 1)
    time.sleep(0.1)  # the API's connection is gone
    baseline = open_descriptors(process.pid)
    AnswerThenClose.end_both_ways(port, CONNECTIONS, request_bytes)
    left = descriptors_left(process, baseline)
    assert process.poll() is None, f"the proxy died: exit status {process.returncode}"
    assert left <= 0, f"{left} descriptors left open"
