"""A listening socket of its own for each uvicorn worker (SO_REUSEPORT), under uvicorn's own supervisor.

uvicorn's supervisor binds one socket and hands every worker a copy of it: the workers share one accept
queue, and whichever is awake when a client opens its connections may take them all. Under wrk's 32
keep-alive connections one of two workers was seen taking every one (4.99 s of CPU against 0.01 s in a
5 s run), serving at one worker's rate while the other idled (issue 22). With SO_REUSEPORT each worker
listens on a socket of its own bound to the same port, and the kernel spreads new connections over them by
their addresses, as nginx's `listen ... reuseport` does.

The supervisor stays uvicorn's `Multiprocess` (health checks, replacing a killed worker, signals), which
the process faults rely on. Only what a worker receives as its socket changes: the supervisor holds a
`Reservation`, bound to the port and never listening (no connection ever waits on it), and a worker
unpickles it as a new socket bound in its own process (`Reservation.__reduce__`). A worker's socket is
then closed with the worker, and the kernel stops sending it connections; a copy shared with the
supervisor would stay in the group and take connections nobody accepts.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from uvicorn.config import STARTUP_FAILURE  # a worker exiting with it stops the supervisor, not respawned


def _options(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart may bind at once


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Reservation(socket.socket):
    """The port, held by the supervisor for its workers. Bound before SO_REUSEPORT is set, so that binding
    fails, as uvicorn's does, when anything else already has the port (a listener that set SO_REUSEPORT
    itself included); workers of this supervisor then bind beside it."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(family_of(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            _options(self)
            self.bind((host, port))
            self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        except OSError:
            self.close()
            raise

    def __reduce__(self) -> tuple[Any, ...]:
        # multiprocessing's pickler has a reducer for socket.socket itself (a copy of the descriptor), found
        # by exact type; this subclass is pickled by this method instead: the worker binds its own.
        return worker_socket, (self.family, self.getsockname()[:2])


def worker_socket(family: socket.AddressFamily, address: tuple[str, int]) -> socket.socket:
    """A worker's listening socket (uvicorn's server calls listen on it). Runs in the worker as its process
    object is unpickled; a failure to bind ends the worker as a failed start, which stops the supervisor
    instead of respawning a worker that would fail the same way."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        _options(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        print(f"harness target: worker cannot bind {address[0]}:{address[1]}: {exc}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)
    return sock
