"""A tiny upstream for connection-churn tests, run as its own process: answers each connection's first
bytes with a short HTTP response and closes. Prints its port, then serves until killed.

    python tests/integration/proxy/closing_upstream.py
"""

from __future__ import annotations

import asyncio
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class _Answer(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(RESPONSE)  # type: ignore[attr-defined]
        self.transport.close()


async def _main() -> None:
    server = await asyncio.get_running_loop().create_server(_Answer, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:  # pragma: no cover
        asyncio.run(_main())
    sys.exit(0)
