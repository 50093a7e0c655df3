"""`harness proxy`: the control API and every proxy on one event loop (uvloop where installed).

In-process use (tests, the orchestrator):

    with ProxyServerThread(seed=1) as server:          # its own loop in a thread
        ToxiproxyClient(server.api_url).create_proxy("sso", "127.0.0.1:9000")

or `await ProxyServer(...).start()` on a loop you run yourself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.endpoints import is_loopback
from harness.errors import EXIT_BAD_INPUT, EXIT_INFRA

log = logging.getLogger("harness.proxy")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ProxyServer:
    """The control API on (host, port) plus the proxies it manages, on the running loop."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        seed: int | None = None,
        allow_non_loopback: bool = False,
        log_level: str = "warning",
        also_listen: str | None = None,
        native: bool | None = None,
    ):
        from harness.proxy.collection import ProxyCollection, Settings

        if not allow_non_loopback and not is_loopback(host):
            from harness.errors import InputError

            raise InputError(f"--host {host} is not a loopback address; the proxy's API listens on loopback only")
        self.host = host
        self.port = port
        settings = Settings(seed=seed, allow_non_loopback=allow_non_loopback, also_listen=also_listen)
        if native is not None:  # else where the relay is built
            settings.native = native
        self.proxies = ProxyCollection(settings)
        self.log_level = log_level
        self._uvicorn: Any = None
        self._serve_task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def api_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        import uvicorn

        from harness.proxy.api import build_app

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:  # the owner of the loop handles signals
                yield

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.proxies),
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._uvicorn = _Server(config)
        self._serve_task = asyncio.get_running_loop().create_task(self._uvicorn.serve(sockets=[sock]))
        while not self._uvicorn.started:
            if self._serve_task.done():
                self._serve_task.result()
                raise RuntimeError("control API stopped during start-up")
            await asyncio.sleep(0.005)

    async def populate_from_file(self, path: str) -> int:
        """Creates the proxies listed in a JSON file (as `toxiproxy-server -config`)."""
        from harness.proxy.apierrors import ApiError

        data = json.loads(Path(path).read_text())
        done, problem = await self.proxies.populate(data)
        if problem is not None:
            raise ApiError(f"{path}: {problem.message}", problem.status)
        return len(done)

    async def stop(self) -> None:
        await self.proxies.close()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._serve_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._serve_task
        if self._socket is not None:
            self._socket.close()


class ProxyServerThread:
    """A ProxyServer on its own event loop in a daemon thread (for tests and in-process use)."""

    def __init__(self, port: int = 0, seed: int | None = None, **kwargs: Any):
        self._args = dict(port=port, seed=seed, **kwargs)
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="harness-proxy", daemon=True)
        self.server: ProxyServer | None = None

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return self.server.api_url

    def start(self) -> ProxyServerThread:
        self._thread.start()

        async def make() -> ProxyServer:
            server = ProxyServer(**self._args)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(make(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> ProxyServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _serve(args: argparse.Namespace) -> int:
    from harness.proxy.apierrors import ApiError

    server = ProxyServer(host=args.host, port=args.port, seed=args.seed, log_level=args.log_level,
                         also_listen=getattr(args, "allow_listen", None),
                         native=getattr(args, "native", None))  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # The proxies of --config exist before the API answers, as with toxiproxy-server: a client that
        # waits for /version must find them listed (CI once listed none, reading between the two).
        if args.config:
            try:
                count = await server.populate_from_file(args.config)
            except (OSError, ValueError, ApiError) as exc:
                log.error("config %s: %s", args.config, exc)
                return EXIT_BAD_INPUT
            log.info("created %d proxies from %s", count, args.config)
        try:
            await server.start()
        except OSError as exc:
            log.error("control API could not listen on %s:%s: %s", args.host, args.port, exc)
            return EXIT_INFRA
        log.warning("harness proxy: API on %s (Toxiproxy API)", server.api_url)
        await stop.wait()
        return 0
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    """Entry point of `harness proxy`: serves until SIGINT or SIGTERM, then exits 0."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    loop = new_event_loop()
    try:
        return loop.run_until_complete(_serve(args))
    finally:
        loop.close()
