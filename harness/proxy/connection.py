"""One proxied TCP connection: the client-side and server-side asyncio Protocols and the Link between.

Protocol API, not streams: `data_received` hands bytes to the direction's Pipe, which writes them to the
peer transport (with no toxic, at once); a full peer write buffer pauses reading on the other side.
End of stream travels through the pipe behind the data, so delayed bytes are delivered before a FIN.

A connection no toxic touches (or only HTTP toxics the native relay can sift for) goes to the native relay
(harness/proxy/relay.py) once its upstream is up, and comes back on new transports when that changes.
With TLS on both hops and a relay that speaks TLS, the sessions stay in the relay from the handshake on:
this module sees plaintext through the relay's bridges (socket pairs), and a connection going native
joins its two bridges into one relayed pair of sessions.

Size: one connection's whole life, the Link and the two Protocols feeding it, with its hand-offs to and
from the native relay; each part reaches into the Link's state (ends of stream, pauses, the early bytes),
so split they would share it through private attributes across modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.proxy.addresses import split_hostport
from harness.proxy.http import RequestFramer
from harness.proxy.pipeline import Pipe, Stage, StageContext
from harness.proxy.relay import HANDSHAKE_TIMEOUT_S, Handback, NativeRelay
from harness.proxy.sieve import NativeRules
from harness.proxy.tls import is_certificate_error, tls_error_response

if TYPE_CHECKING:
    from harness.proxy.collection import Proxy, ToxicEntry


class _Clock:
    """The loop's clock and timers, as stages see them."""

    __slots__ = ("call_at", "time")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.time = loop.time
        self.call_at = loop.call_at


def _discard(data: bytes) -> None:
    pass


async def _connect_socket(
    loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, sock: socket.socket
) -> asyncio.Transport:
    """loop.create_connection(sock=...) for a connected socket the transport is to own. uvloop attaches the
    socket object to its transport only after connection_made: a transport closed before that (its protocol
    aborted it there, the link having ended meanwhile) never lets go of the object, whose finalizer would
    close the descriptor's number a second time, by then another connection's (seen as EEXIST and EBADF from
    uvloop under TLS churn). The transport owns the descriptor either way, so the object lets go here."""
    transport, _ = await loop.create_connection(lambda: protocol, sock=sock)
    sock.detach()
    return transport


class Link:
    def __init__(self, proxy: Proxy, client: asyncio.Transport, bridge: tuple[NativeRelay, int] | None = None):
        self.proxy = proxy
        self.client = client
        self.server: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.framer = RequestFramer()
        self._early: list[bytes] = []  # client bytes that arrived before the upstream connection
        self.up = Pipe(self._hold_early, self._server_eof, self, self.framer, self._request_forwarded)
        self.down = Pipe(client.write, self._client_eof, self)
        self._awaiting = False
        self._closed = False
        self._client_gone = False
        self._server_gone = False
        self._eof_to_client = False
        self._eof_to_server = False
        self._paused_client: set[object] = set()
        self._paused_server: set[object] = set()
        # toxic name -> (entry, this connection's stage or None when toxicity spared it)
        self._stages: dict[str, tuple[ToxicEntry, Stage | None]] = {}
        # Where server bytes go instead of the downstream pipe while a response is intercepted. Read by
        # ServerProtocol on every chunk, so a handler armed before the upstream connection exists holds.
        self.response_handler: Callable[[bytes], None] | None = None
        # While the native relay has this connection: its slot there (see _go_native, take_back).
        self._native: tuple[NativeRelay, int] | None = None
        self._owed: Handback | None = None  # what the relay handed back, until the new transports are up
        # TLS in the relay: the relay, and the bridges carrying each side's session (0: none yet), while
        # this link sees the connection in plaintext. The client's is held until the link lets it go.
        self._tls: NativeRelay | None = bridge[0] if bridge is not None else None
        self._bridges = [bridge[1] if bridge is not None else 0, 0]
        self._held = bridge is not None
        proxy.links.add(self)
        proxy.counters.connections_total += 1
        proxy.counters.connections_active += 1
        self.pause_client("connect")
        self.apply_toxics(proxy.chain_upstream(), proxy.chain_downstream())
        self._connect_task = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        host, port = split_hostport(self.proxy.upstream, "upstream")
        tls = self.proxy.tls.upstream
        try:
            if tls is not None and self._tls is not None:
                transport, protocol = await self._connect_relayed_tls(self._tls, host, port, tls.native,
                                                                      tls.server_name)  # fmt: skip
            elif tls is None:
                transport, protocol = await self.loop.create_connection(lambda: ServerProtocol(self), host, port)
            else:
                # TCP first, then start_tls, not create_connection(ssl=...): this task is cancelled when the
                # client leaves first (close(), abort()), and uvloop's create_connection(ssl=...) answers a
                # cancel that lands between its TCP connect and its handshake by closing the TCP handle
                # behind the TLS protocol's back. That protocol then went on reading and writing on the
                # closed handle ("Fatal error on SSL protocol ... the handler is closed": 11 of 90 clients
                # that reset mid-request in tests/integration/proxy/test_tls_churn.py). start_tls's
                # cancel closes through the TLS protocol, and a cancel in the TCP step meets only ours.
                transport, protocol = await self._connect_tls(host, port, tls.context, tls.server_name)
        except OSError as exc:  # ssl.SSLError is one too
            self.proxy.counters.upstream_connect_errors += 1
            if is_certificate_error(exc) and not self._closed:
                self._unhold()
                self._refuse(tls_error_response(exc))
            else:
                self.client.close()
            return
        if self._closed:
            transport.abort()
            return
        self._attach_server(transport, protocol)
        self._go_native()
        self._unhold()  # not gone native: the client's data comes this way

    def _attach_server(self, transport: asyncio.Transport, protocol: ServerProtocol) -> None:
        self.server = transport
        if self._early:
            transport.write(b"".join(self._early))
            self._early.clear()
        self.up.set_write(transport.write)
        if self._eof_to_server:  # the client had already finished
            self._server_eof()
        else:
            for owner in list(self._paused_server):  # a downstream stage asked for a pause meanwhile
                self._paused_server.discard(owner)
                self.pause_server(owner)
            self.resume_client("connect")
        protocol.attach()  # an end of the upstream that came during the handshake, now that it counts

    async def _connect_tls(
        self, host: str, port: int, context: ssl.SSLContext, name: str
    ) -> tuple[asyncio.Transport, ServerProtocol]:
        tcp, _ = await self.loop.create_connection(asyncio.Protocol, host, port)
        # Detached until this link takes the connection: a handshake that fails (answered with _refuse)
        # or is cancelled ends in the TLS protocol's connection_lost, which must not end this link.
        protocol = ServerProtocol(self, attached=False)
        try:
            tls = await self.loop.start_tls(tcp, protocol, context, server_hostname=name)
        except BaseException:
            tcp.abort()
            raise
        if tls is None:  # the TCP connection ended during the handshake
            raise ConnectionResetError(f"upstream {host}:{port} closed during the TLS handshake")
        return tls, protocol

    async def _connect_relayed_tls(
        self, relay: NativeRelay, host: str, port: int, context: object, name: str
    ) -> tuple[asyncio.Transport, ServerProtocol]:
        """TCP here, then the relay does the handshake (SNI and verification against `name`) and keeps the
        session; the transport returned is the plaintext end of its bridge."""
        tcp, _ = await self.loop.create_connection(asyncio.Protocol, host, port)
        sock = tcp.get_extra_info("socket")
        fd = os.dup(sock.fileno())
        tcp.abort()  # closes uvloop's descriptor only: the dup keeps the socket open, for the relay
        try:
            handle, plain_fd, done = relay.bridge_upstream(fd, context, name)
        except BaseException:
            os.close(fd)
            raise
        plain = socket.socket(fileno=plain_fd)
        protocol = ServerProtocol(self, attached=False)
        try:
            await asyncio.wait_for(done, HANDSHAKE_TIMEOUT_S)
            transport = await _connect_socket(self.loop, protocol, plain)
        except BaseException:
            if protocol.transport is None:
                plain.close()
            relay.reset(handle)  # a session given up on (cancelled, timed out) ends with an RST; an ended one is gone
            raise
        self._bridges[1] = handle
        return transport, protocol

    def _unhold(self) -> None:
        """The client's session may pass its data to this link's transport now."""
        if self._held and self._tls is not None:
            self._held = False
            self._tls.unhold(self._bridges[0])

    def _refuse(self, response: bytes) -> None:
        """No upstream to be had: answer the client's first request with `response`, then close."""

        def answer(data: bytes) -> None:
            self.up.set_write(_discard)
            self.client.write(response)
            self.client.close()

        if self._early:
            answer(b"")
        else:
            self.up.set_write(answer)
            self.resume_client("connect")

    def _hold_early(self, data: bytes) -> None:
        # uvloop starts reading after connection_made whatever it asked, so the pause in __init__ does
        # not hold: bytes can come before the upstream connection. Reading is on now, so pausing works.
        self._early.append(data)
        self.client.pause_reading()

    # --- the native relay ------------------------------------------------------------------------

    def _go_native(self) -> None:
        """Hands the connection to the native relay when nothing here has work on it: plain TCP both ways,
        no stage, nothing buffered or paused, the framer between requests or in a body. The relay gets
        dup()s of the sockets and the transports are closed without a word to the peers."""
        relay = self.proxy.settings.native_relay() if self._native is None else None
        client, server = self.client, self.server
        bridged = self._tls is not None and all(self._bridges)
        if relay is None or server is None or ((self.proxy.tls.listen or self.proxy.tls.upstream) and not bridged):
            return
        client_protocol, server_protocol = client.get_protocol(), server.get_protocol()
        if not isinstance(client_protocol, ClientProtocol) or not isinstance(server_protocol, ServerProtocol):
            return
        body_left = self.framer.at_plain_boundary()
        rules = self._native_rules()
        if (body_left is None or rules is None or self._closed or self._eof_to_client or self._eof_to_server
                or self._client_gone or self._server_gone or self._paused_client or self._paused_server or self._early
                or client.get_write_buffer_size() or server.get_write_buffer_size()
                or client.is_closing() or server.is_closing()):  # fmt: skip
            return
        if bridged:
            self._join(relay, body_left, rules)
            return
        client_sock, server_sock = client.get_extra_info("socket"), server.get_extra_info("socket")
        if client_sock is None or server_sock is None:
            return
        client_fd = os.dup(client_sock.fileno())
        server_fd = os.dup(server_sock.fileno())
        try:
            slot = relay.adopt(self, client_fd, server_fd, body_left, self._awaiting, rules)
        except OSError:
            os.close(client_fd)
            os.close(server_fd)
            return
        client_protocol.detach()
        server_protocol.detach()
        client.abort()  # closes uvloop's descriptor only: the relay's dup keeps each socket open
        server.abort()
        self._native = (relay, slot)
        self.proxy.counters.native_handovers += 1

    def _join(self, relay: NativeRelay, body_left: int, rules: NativeRules) -> None:
        """_go_native for a connection whose sessions are in the relay: its two bridges become one relayed
        pair of sessions, and the plaintext transports close (their socket pairs are done with)."""
        slot = relay.join(self, self._bridges[0], self._bridges[1], body_left, self._awaiting, rules)
        if slot is None:  # something was on its way through a bridge: it stays here for now
            return
        self._held = False
        self._bridges = [0, 0]
        client, server = self.client, self.server
        assert server is not None
        client.get_protocol().detach()  # type: ignore[attr-defined]
        server.get_protocol().detach()  # type: ignore[attr-defined]
        client.abort()
        server.abort()
        self._native = (relay, slot)
        self.proxy.counters.native_handovers += 1

    def _native_rules(self) -> NativeRules | None:
        """What the native relay must know of this connection's toxics to carry it: the method and path
        tests of its HTTP toxics (empty: none), while every stage is one of those, none holds anything, and
        no response is being intercepted. None: it cannot carry it."""
        if self.down.stages or self.response_handler is not None:
            return None
        if not self.up.stages:
            return ()
        sieve = self.up.sieve
        if sieve is None or any(stage.holds() for stage in self.up.stages):
            return None
        return sieve.native

    def _release_native(self) -> Handback | None:
        """Takes the connection out of the relay now, folding its counts into this link's."""
        native, self._native = self._native, None
        if native is None:
            return None
        relay, slot = native
        back = relay.release(slot)
        self.framer.resume(back.requests, back.body_left)
        self._awaiting = back.awaiting
        self.proxy.counters.bytes_upstream += back.bytes_upstream
        self.proxy.counters.bytes_downstream += back.bytes_downstream
        return back

    def take_back(self) -> None:
        """The connection comes back from the native relay (for a toxic, or the relay's own doing: an error,
        a short write, a request it leaves to the Python framer, or both streams ended and closed). New
        transports take over the sockets; bytes the relay owed go first, through whatever stages there are
        now."""
        back = self._release_native()
        if back is None:
            return
        if back.client_bridge:  # a TLS pair: its sessions went to bridges, the fds are their plaintext ends
            self._bridges = [back.client_bridge, back.server_bridge]
        if back.closed:  # both ways ended, passed on and closed by the relay: only the counts came back
            self._closed = self._eof_to_client = self._eof_to_server = True
            self.up.close()
            self.down.close()
            self._forget()
            return
        self.server = None  # until the new transport is up; abort() meanwhile cancels the task below
        self._owed = back
        # Client bytes wait in `_early` until the server side is up again, as they do on connect.
        self.up.set_write(self._hold_early)
        if back.framed:
            self._early.append(back.framed)  # framed already: straight to the server, before the rest
        self._connect_task = self.loop.create_task(self._rewrap(back))

    async def _rewrap(self, back: Handback) -> None:
        client_sock = socket.socket(fileno=back.client_fd)
        server_sock = socket.socket(fileno=back.server_fd)
        client = ClientProtocol(self.proxy, link=self)  # its connection_made calls _client_back first thing
        server = ServerProtocol(self, attached=False)
        try:
            await self.loop.connect_accepted_socket(lambda: client, client_sock)
            transport = await _connect_socket(self.loop, server, server_sock)
        except BaseException:  # cancelled by abort() (a fault answered the owed request with a reset), or worse
            # A transport owns its socket from connection_made on, and closes it itself: a second close here
            # could close a descriptor already reused for another connection.
            if client.transport is None:
                client_sock.close()
            if server.transport is None:
                server_sock.close()
            if not self._closed:
                self.abort()
            raise
        if self._closed:
            transport.abort()
            return
        self._attach_server(transport, server)

    def _client_back(self, transport: asyncio.Transport) -> None:
        """The client's new transport is up: what the relay owed each way is passed on before anything
        the new transport reads."""
        self.client = transport
        self.pause_client("connect")
        self.down.set_write(transport.write)
        back, self._owed = self._owed, None
        if back is not None:
            if back.down:
                self.down.entry(back.down)
            if back.unframed:
                self.up.entry(back.unframed)

    @property
    def native(self) -> bool:
        """The native relay moves this connection's bytes now."""
        return self._native is not None

    def live_counts(self) -> tuple[int, int, int]:
        """What this open connection adds to its proxy's counters now: the requests framed on it, and the
        bytes each way the native relay moved and has not handed back yet (those are in the counters)."""
        if self._native is None:
            return self.framer.requests, 0, 0
        relay, slot = self._native
        requests, up, down = relay.stats(slot)
        return self.framer.requests + requests, up, down

    # --- what stages may ask (LinkPort) ----------------------------------------------------------

    def respond(self, data: bytes, keep_alive: bool) -> None:
        self.down.inject(data)
        if not keep_alive:
            # The request said Connection: close; the server never saw it, so end both sides here.
            self._client_gone = True
            if self.server is not None:
                self.server.close()
            self.down.feed_eof()

    def awaiting_response(self) -> bool:
        return self._awaiting

    def intercept_response(self, handler: Callable[[bytes], None] | None) -> None:
        self.response_handler = handler

    def forward_response(self, data: bytes) -> None:
        if not self._closed:
            self.down.feed(data)

    def reset(self) -> None:
        """Both sides get an RST: SO_LINGER 0, then close without flushing."""
        if self._tls is not None:  # the TCP sockets are the relay's, behind the bridges
            for handle in self._bridges:
                if handle:
                    self._tls.reset(handle)
        for transport in (self.client, self.server):
            if transport is None:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.abort()

    def _request_forwarded(self) -> None:
        self._awaiting = True

    # --- toxics ----------------------------------------------------------------------------------

    def apply_toxics(self, upstream: list[ToxicEntry], downstream: list[ToxicEntry]) -> None:
        """Makes this connection's stages match the proxy's toxics. A toxic already applied keeps its
        stage (its state, e.g. limit_data's byte count, and its decision whether this connection is
        affected at all: Toxiproxy's toxicity); an updated one gets its new attributes."""
        previous, self._stages = self._stages, {}
        for pipe, entries, pause, resume in (
            (self.up, upstream, self.pause_client, self.resume_client),
            (self.down, downstream, self.pause_server, self.resume_server),
        ):
            stages: list[Stage] = []
            hold = False
            for entry in entries:
                kept = previous.get(entry.name)
                if kept is not None and kept[0].type == entry.type and kept[0].stream == entry.stream:
                    stage = kept[1]
                    if stage is not None and kept[0] is not entry:
                        stage.update(entry.toxic)
                elif self.proxy.toxicity_rng.random() < entry.toxicity:
                    ctx = StageContext(_Clock(self.loop), entry.rng, entry.counters, self, pause, resume)
                    stage = entry.toxic.stage(ctx)
                else:
                    stage = None
                self._stages[entry.name] = (entry, stage)
                if stage is not None:
                    stages.append(stage)
                    hold = hold or entry.toxic.http
            pipe.set_stages(stages, hold)
        if self._native is not None:
            rules = self._native_rules()
            if rules is None:
                self.take_back()  # the stages act on the transports that take over the sockets
            else:
                relay, slot = self._native
                relay.sift(slot, rules)
        elif self.server is not None and self._owed is None:  # e.g. the toxic that took it back went away
            self._go_native()

    # --- flow control ----------------------------------------------------------------------------

    def pause_client(self, owner: object) -> None:
        if not self._paused_client:
            self.client.pause_reading()
        self._paused_client.add(owner)

    def resume_client(self, owner: object) -> None:
        self._paused_client.discard(owner)
        if not self._paused_client and not self._closed and not self._client_gone:
            self.client.resume_reading()

    def pause_server(self, owner: object) -> None:
        if not self._paused_server and self.server is not None:
            self.server.pause_reading()
        self._paused_server.add(owner)

    def resume_server(self, owner: object) -> None:
        self._paused_server.discard(owner)
        if not self._paused_server and self.server is not None and not self._closed and not self._server_gone:
            self.server.resume_reading()

    # --- end of streams --------------------------------------------------------------------------

    def _server_eof(self) -> None:
        """The client -> server stream ended and everything before the end was delivered."""
        self._eof_to_server = True
        server = self.server
        if server is None:
            return
        if self._client_gone or self._server_gone or server.is_closing() or not server.can_write_eof():
            server.close()
        else:
            server.write_eof()
        self._close_if_done()

    def _client_eof(self) -> None:
        self._eof_to_client = True
        if self._server_gone or self._client_gone or self.client.is_closing() or not self.client.can_write_eof():
            self.client.close()
        else:
            self.client.write_eof()
        self._close_if_done()

    def _close_if_done(self) -> None:
        if self._eof_to_client and self._eof_to_server:
            self.close()

    def client_eof(self) -> None:
        self.up.feed_eof()

    def server_eof(self) -> None:
        self.down.feed_eof()

    def client_lost(self) -> None:
        self._client_gone = True
        self.down.set_write(_discard)
        self.up.feed_eof()
        if self.server is None:
            self.close()

    def server_lost(self) -> None:
        self._server_gone = True
        self.up.set_write(_discard)
        self.down.feed_eof()
        if self._eof_to_server:
            self.close()

    def close(self) -> None:
        if self._native is not None:  # nothing here writes to the relay's sockets: there is no flush to wait for
            self.abort()
            return
        if self._closed:
            return
        self._closed = True
        self.up.close()
        self.down.close()
        self.client.close()
        if self.server is not None:
            self.server.close()
        else:
            self._connect_task.cancel()
        self._forget()

    def abort(self) -> None:
        """The proxy went down: cut both sides now, delivering nothing more."""
        self._closed = True
        self.up.close()
        self.down.close()
        back = self._release_native()
        if back is not None:  # the relay's sockets: closed here (if it has not), what they owed is dropped
            if not back.closed:
                os.close(back.client_fd)
                os.close(back.server_fd)
        else:
            self.client.abort()
            if self.server is not None:
                self.server.abort()
            else:
                self._connect_task.cancel()
        self._forget()

    def _forget(self) -> None:
        if self in self.proxy.links:
            self.proxy.links.discard(self)
            self.proxy.counters.connections_active -= 1
            self.proxy.counters.requests += self.framer.requests


class _Nowhere:
    """The up pipe of a connection cut when it was made: it takes bytes and does nothing with them."""

    entry: Callable[[bytes], None] = staticmethod(_discard)


_NOWHERE = _Nowhere()


class ClientProtocol(asyncio.Protocol):
    """The side a client connected to (the proxy's listener)."""

    def __init__(self, proxy: Proxy, generation: int = 0, link: Link | None = None,
                 bridge: tuple[NativeRelay, int] | None = None):  # fmt: skip
        self.proxy = proxy
        self.bridge = bridge  # the relay's TLS session behind this plaintext transport (TlsAcceptProtocol)
        self.counters = proxy.counters
        # A link given: a connection back from the native relay, on a new transport.
        self.link: Link | None = link
        self.transport: asyncio.BaseTransport | None = None
        self.up: Pipe | _Nowhere = _NOWHERE  # the link's up pipe once the connection is made
        self.generation = generation  # of the listener that accepted it (Proxy.generation)
        # a TLS transport cannot stay half open (and logs a warning for each True returned)
        self.half_close = proxy.tls.listen is None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.link is not None:
            self.up = self.link.up
            self.link._client_back(transport)  # type: ignore[arg-type]
            return
        if self.generation != self.proxy.generation:  # its listener closed during the TLS handshake
            transport.abort()  # type: ignore[attr-defined]
            self.up = _NOWHERE  # whatever still arrives goes nowhere
            return
        self.link = Link(self.proxy, transport, self.bridge)  # type: ignore[arg-type]
        self.up = self.link.up

    def detach(self) -> None:
        """The link no longer reads through this transport (it went to the native relay)."""
        self.link = None
        self.up = _NOWHERE

    def data_received(self, data: bytes) -> None:
        self.counters.bytes_upstream += len(data)
        self.up.entry(data)  # looked up per chunk: it changes as toxics come and go (Pipe._rebind)

    def eof_received(self) -> bool:
        if self.link is not None:
            self.link.client_eof()
        return self.half_close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.client_lost()

    def pause_writing(self) -> None:
        if self.link is not None:
            self.link.pause_server("client-write-buffer")

    def resume_writing(self) -> None:
        if self.link is not None:
            self.link.resume_server("client-write-buffer")


_making: set[asyncio.Task[None]] = set()  # transports being made for accepted TLS connections (held here)


class TlsAcceptProtocol(asyncio.Protocol):
    """A TLS proxy's listener where the relay keeps the sessions: the accepted TCP socket goes to the relay
    before a byte is read (it does the handshake), and once the handshake is done the connection is made
    here on the plaintext end of its bridge, as a ClientProtocol. As with TLS in Python, a client whose
    handshake fails or does not end within HANDSHAKE_TIMEOUT_S is no connection of the proxy's: it is not
    counted and opens nothing upstream."""

    def __init__(self, proxy: Proxy, generation: int, relay: NativeRelay):
        self.proxy = proxy
        self.generation = generation
        self.relay = relay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if self.generation != self.proxy.generation or sock is None or self.proxy.tls.listen is None:
            transport.abort()  # type: ignore[attr-defined]
            return
        fd = os.dup(sock.fileno())
        transport.abort()  # type: ignore[attr-defined]  # uvloop's descriptor only: the dup keeps the socket
        try:
            handle, plain_fd, done = self.relay.bridge_accepted(fd, self.proxy.tls.listen.native)
        except OSError:
            os.close(fd)
            return
        task = asyncio.get_running_loop().create_task(self._make(handle, socket.socket(fileno=plain_fd), done))
        _making.add(task)
        task.add_done_callback(_making.discard)

    async def _make(self, handle: int, plain: socket.socket, handshake: asyncio.Future[None]) -> None:
        try:
            await asyncio.wait_for(handshake, HANDSHAKE_TIMEOUT_S)
        except BaseException as exc:  # the client's handshake failed, timed out, or the proxy is going down
            plain.close()
            self.relay.reset(handle)  # one that timed out: an RST (a failed one is gone already)
            if isinstance(exc, OSError):  # TimeoutError too: what a TLS listener meets every day, not an error
                return
            raise
        protocol = ClientProtocol(self.proxy, self.generation, bridge=(self.relay, handle))
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: protocol, plain)
        except BaseException:
            if protocol.transport is None:
                plain.close()  # the bridge sees its end go, and ends
            raise


class ServerProtocol(asyncio.Protocol):
    """The side the proxy opened to the upstream."""

    def __init__(self, link: Link, attached: bool = True):
        self.link = link
        self.counters = link.proxy.counters
        self.down = link.down
        self.transport: asyncio.BaseTransport | None = None
        self.half_close = link.proxy.tls.upstream is None
        # Until attached, the end of the connection is remembered, not passed on (see Link._connect_tls);
        # attach() passes on what came meanwhile.
        self.attached = attached
        self._early_eof = False
        self._early_lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.link._closed:  # the link ended while this transport was being made (a take-back)
            transport.abort()  # type: ignore[attr-defined]

    def detach(self) -> None:
        """The link no longer reads through this transport (it went to the native relay): whatever the
        closing transport still reports is not the connection's."""
        self.attached = False  # what an unattached protocol sees is kept, never passed on

    def attach(self) -> None:
        if self.attached:
            return
        self.attached = True
        if self._early_eof:
            self.link.server_eof()
        if self._early_lost:
            self.link.server_lost()

    def data_received(self, data: bytes) -> None:
        self.counters.bytes_downstream += len(data)
        link = self.link
        link._awaiting = False
        # Looked up per chunk, not cached: the request that arms an intercept can be read before this
        # protocol exists (uvloop reads the client before create_connection returns).
        (link.response_handler or self.down.entry)(data)

    def eof_received(self) -> bool:
        if not self.attached:
            self._early_eof = True
            return self.half_close
        self.link.server_eof()
        return self.half_close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.attached:
            self._early_lost = True
            return
        self.link.server_lost()

    def pause_writing(self) -> None:
        self.link.pause_client("server-write-buffer")

    def resume_writing(self) -> None:
        self.link.resume_client("server-write-buffer")
