"""The floor of a Python TCP pass-through: asyncio Protocols on uvloop, each side writing what it reads to
the other, pausing reading when the other's write buffer is full. Nothing else: no framing, no counters,
no toxics. bench/proxy.py measures it beside haproxy and `harness proxy`; what ours costs above it is ours.

    python bench/floor_proxy.py LISTEN_PORT UPSTREAM_PORT [CERT KEY CA SERVER_NAME]

With the four TLS arguments it ends TLS on its listener (CERT, KEY) and opens TLS to the upstream (verified
against CA, SNI SERVER_NAME), as `harness proxy` does with TLS on both hops: uvloop's TLS, nothing else.
"""

import asyncio
import ssl
import sys

import uvloop

TLS: "tuple[ssl.SSLContext, ssl.SSLContext, str] | None" = None  # listener, upstream, server name


class Side(asyncio.Protocol):
    def __init__(self, peer: "Side | None" = None):
        self.peer, self.transport, self.early, self.ended = peer, None, [], False

    def connection_made(self, transport):
        self.transport = transport
        if self.peer is None:  # the client side: open the upstream, hold what comes before it is up
            transport.pause_reading()
            asyncio.get_running_loop().create_task(self.connect())
        else:  # the upstream side: its client may go on
            client = self.peer
            client.peer = self
            if client.early:
                transport.write(b"".join(client.early))
            client.transport.resume_reading()

    async def connect(self):
        tls = {} if TLS is None else {"ssl": TLS[1], "server_hostname": TLS[2]}
        try:
            await asyncio.get_running_loop().create_connection(lambda: Side(self), "127.0.0.1", UPSTREAM, **tls)
        except OSError:
            self.transport.close()

    def data_received(self, data):
        if self.peer is None:  # uvloop may read once before the pause holds
            self.early.append(data)
            self.transport.pause_reading()
        else:
            self.peer.transport.write(data)

    def eof_received(self):
        if TLS is not None:  # a TLS transport cannot half-close: the end closes both
            if self.peer is not None:
                self.peer.transport.close()
            return False
        if self.peer is None:
            return True
        self.ended = True
        if not self.peer.transport.is_closing():
            self.peer.transport.write_eof()
        # Both ways ended: close (connection_lost closes the peer). Left open, the pair was the GC's to free,
        # and uvloop 0.23 frees twice a transport collected while its write_eof() is in flight (SIGABRT).
        return not self.peer.ended

    def connection_lost(self, exc):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    def pause_writing(self):
        self.peer.transport.pause_reading()

    def resume_writing(self):
        self.peer.transport.resume_reading()


async def main(port: int) -> None:
    listen_tls = TLS[0] if TLS is not None else None
    server = await asyncio.get_running_loop().create_server(Side, "127.0.0.1", port, backlog=1024, ssl=listen_tls)
    await server.serve_forever()


if __name__ == "__main__":
    UPSTREAM = int(sys.argv[2])
    if len(sys.argv) == 7:
        cert, key, ca, name = sys.argv[3:]
        listener = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        listener.load_cert_chain(cert, key)
        TLS = (listener, ssl.create_default_context(cafile=ca), name)
    uvloop.run(main(int(sys.argv[1])))
