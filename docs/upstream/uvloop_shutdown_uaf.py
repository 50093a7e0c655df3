"""Minimal reproducer: uvloop frees a TCP transport that has a shutdown (write_eof) in flight.

A transport whose only references are a cycle with its protocol (reading stopped, e.g. after
eof_received() returned True; or pause_reading()) is collected by the cyclic GC while still open.
UVHandle.__dealloc__ then calls uv_close() with handle->data = NULL, but the uv_shutdown_t request that
write_eof() queued lives *inside* the freed UVStream object (self._shutdown_req) and its .data still points
at it. On the next loop iteration libuv's uv__stream_destroy() calls __uv_stream_on_shutdown(req,
UV_ECANCELED) on that freed memory; Cython's INCREF/DECREF of `<UVStream> req.data` frees it a second time:
glibc "double free or corruption" (SIGABRT) or silent heap corruption.

    python uvloop_shutdown_uaf.py [N] [noeof]   # N transports (default 1); exits 0 only if it survived

`noeof`: the same without write_eof(): the transport is still collected unclosed (a ResourceWarning), and
that alone does not crash; the pending shutdown is what makes it a use after free.
"""

import asyncio
import gc
import socket
import sys

import uvloop


class Keep(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport  # protocol <-> transport: a reference cycle, as any Protocol makes


async def main(n: int) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = []
    for _ in range(n):
        transport, protocol = await loop.create_connection(Keep, "127.0.0.1", port)
        accepted.append(listener.accept()[0])
        transport.pause_reading()  # uvloop drops the reference it holds while reading
        if EOF:
            transport.write_eof()  # uv_shutdown() queued; it runs at the next poll for writability
        del transport, protocol  # nothing refers to the pair now but the cycle itself: the transport is never closed
    gc.collect()  # the GC frees the open transport(s) before the shutdown ran: uv_close(data=NULL)
    await asyncio.sleep(0.05)  # libuv closes the handle(s) and cancels the shutdown on freed memory
    print(f"survived {n}")


EOF = "noeof" not in sys.argv[2:]
uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
