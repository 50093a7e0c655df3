"""The proxy bench's floor (bench/floor_proxy.py) closes a connection once both directions have ended.

nginx ends each keep-alive connection after `keepalive_requests` (1000) answers, so in `make bench` the
floor saw hundreds of connections a run end the same way: the upstream's FIN, passed on, then the client's.
The floor passed each FIN on with write_eof() and closed neither side, leaving the pair to the cyclic GC;
uvloop 0.23 frees a transport collected while its write_eof() is still in flight twice (glibc "double free
or corruption (!prev)", SIGABRT in most bench runs). Here the floor runs with the GC off, so that what it
leaves open stays open and is counted, instead of crashing it some of the time.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import AnswerThenClose, descriptors_left, free_port, open_descriptors

pytestmark = pytest.mark.integration

FLOOR = Path(__file__).resolve().parents[2] / "bench" / "floor_proxy.py"
CONNECTIONS = 40
# The floor with the cyclic GC off: a connection it does not close stays open (and cannot crash it).
GC_OFF = (
    "import gc, runpy, sys; gc.disable(); sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"the floor did not listen on {port} (exit status {proc.poll()})")


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    upstream = AnswerThenClose()
    port = free_port()
    log = tmp_path / "floor.log"
    with open(log, "wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-c", GC_OFF, str(FLOOR), str(port), str(upstream.port)],
                                stdout=out, stderr=out)  # fmt: skip
    try:
        _wait_port(port, proc)
        yield proc, port, log
    finally:
        proc.kill()
        proc.wait()
        upstream.sock.close()


def test_the_floor_closes_both_sides_once_both_directions_ended(
    floor: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    proc, port, log = floor
    time.sleep(0.1)  # the connection _wait_port made is gone
    baseline = open_descriptors(proc.pid)
    AnswerThenClose.end_both_ways(port, CONNECTIONS)
    left = descriptors_left(proc, baseline)
    assert proc.poll() is None, f"the floor died ({proc.returncode}): {log.read_text(errors='replace')[-300:]}"
    assert left <= 0, f"{left} descriptors left open"
