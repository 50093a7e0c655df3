"""TLS in the native relay (harness/proxy/_relay.c) on its own, over real loopback TCP and Python's ssl on the
peers' side: a bridge speaks TLS to its peer and plaintext to Python, ends of stream and resets cross it,
an upstream handshake reports how it ended, and two quiet bridges join into one relayed pair of sessions
that frames and counts like a plain one and splits back into bridges when Python takes it."""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from harness.proxy import relay
from harness.proxy.tls import is_certificate_error
from tests.helpers import LOOPBACK, recv_exactly

if relay.TLS:  # a build without OpenSSL's headers: test_the_relay_speaks_tls says so
    from harness.proxy import _relay

GET = b"GET /token HTTP/1.1\r\nHost: idp.test\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_the_relay_speaks_tls() -> None:
    """`make install` builds the relay with OpenSSL where libssl-dev is installed (.ci/run installs it);
    without it a TLS proxy keeps its sessions in Python, and this suite must say so rather than skip."""
    assert relay.TLS, "harness/proxy/_relay.c was built without OpenSSL's headers (is libssl-dev installed?)"


@dataclass
class Certs:
    ca: str
    cert: str
    key: str
    other_ca: str  # a CA that did not issue `cert`


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    tmp = tmp_path_factory.mktemp("native-tls")
    ca, other = trustme.CA(), trustme.CA()
    leaf = ca.issue_cert("idp.test")
    paths = [tmp / name for name in ("ca.pem", "leaf.pem", "leaf-key.pem", "other-ca.pem")]
    ca.cert_pem.write_to_path(str(paths[0]))
    leaf.cert_chain_pems[0].write_to_path(str(paths[1]))
    leaf.private_key_pem.write_to_path(str(paths[2]))
    other.cert_pem.write_to_path(str(paths[3]))
    return Certs(*(str(p) for p in paths))


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server((LOOPBACK, 0)) as listener:
        outer = socket.create_connection(listener.getsockname())
        inner, _ = listener.accept()
    return outer, inner


def _in_thread(work: Callable[[], Any]) -> Callable[[], Any]:
    """Runs `work` (a blocking handshake) beside the test; the returned call waits for its result."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def result() -> Any:
        thread.join(10)
        assert not thread.is_alive(), "the handshake did not end in 10 s"
        if "error" in box:
            raise box["error"]
        return box["value"]

    return result


def _collected(r: _relay.Relay, timeout_s: float = 5.0) -> list[int]:
    select.select([r.fileno()], [], [], timeout_s)
    return list(r.collect())


@dataclass
class Hop:
    """One TLS session in the relay: its peer (Python's ssl), its bridge handle, and Python's plaintext end."""

    peer: ssl.SSLSocket
    handle: int
    plain: socket.socket


class Relay:
    """The relay, and every socket a test made, closed at the end."""

    def __init__(self, certs: Certs):
        self.certs = certs
        self.relay = _relay.Relay()
        self.server_ctx = _relay.server_context(certs.cert, certs.key)
        self.sockets: list[socket.socket] = []

    def _keep(self, *socks: socket.socket) -> None:
        self.sockets.extend(socks)

    def client_hop(self, hold: bool = False) -> Hop:
        """A client's TLS session to the proxy's listener, its handshake done."""
        outer, inner = _tcp_pair()
        context = ssl.create_default_context(cafile=self.certs.ca)
        handshake = _in_thread(lambda: context.wrap_socket(outer, server_hostname="idp.test"))
        handle, fd = self.relay.bridge(os.dup(inner.fileno()), self.server_ctx, None, hold, False)
        inner.close()
        peer = handshake()
        plain = socket.socket(fileno=fd)
        self._keep(peer, plain)
        return Hop(peer, handle, plain)

    def upstream_hop(self, ca: str | None = None, name: str = "idp.test") -> tuple[Hop | None, tuple[Any, ...]]:
        """The proxy's TLS session to an upstream (Python's ssl, serving the CA's idp.test certificate),
        and how the relay said its handshake ended."""
        outer, inner = _tcp_pair()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certs.cert, self.certs.key)
        handshake = _in_thread(lambda: context.wrap_socket(inner, server_side=True))
        handle, fd = self.relay.bridge(os.dup(outer.fileno()), _relay.client_context(ca or self.certs.ca), name,
                                       False, True)  # fmt: skip
        outer.close()
        assert _collected(self.relay) == [handle]
        ended = self.relay.handshake(handle)
        plain = socket.socket(fileno=fd)
        try:
            peer = handshake()
        except (ssl.SSLError, OSError):
            plain.close()
            return None, ended
        self._keep(peer, plain)
        return Hop(peer, handle, plain), ended

    def close(self) -> None:
        self.relay.close()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def tls(certs: Certs) -> Iterator[Relay]:
    if not relay.TLS:
        pytest.fail("the relay has no TLS (test_the_relay_speaks_tls)")
    made = Relay(certs)
    yield made
    made.close()


def test_a_bridge_speaks_tls_to_its_peer_and_plaintext_to_python(tls: Relay) -> None:
    hop = tls.client_hop()
    hop.peer.sendall(GET)
    assert recv_exactly(hop.plain, len(GET)) == GET
    hop.plain.sendall(OK * 3000)  # larger than a record and a socket buffer: it comes whole and in order
    assert recv_exactly(hop.peer, len(OK) * 3000) == OK * 3000


def test_ends_of_stream_cross_a_bridge_as_close_notify_and_half_closes(tls: Relay) -> None:
    hop = tls.client_hop()
    hop.plain.sendall(OK)
    hop.plain.shutdown(socket.SHUT_WR)  # Python's half close: close_notify to the peer, then its FIN
    assert recv_exactly(hop.peer, len(OK)) == OK
    assert hop.peer.recv(10) == b""  # a clean TLS end: the ssl module raises SSLEOFError without close_notify
    hop.peer.sendall(GET)  # the other way is still open
    assert recv_exactly(hop.plain, len(GET)) == GET
    hop.peer.unwrap()  # the peer's close_notify: Python's end reads its end of stream
    hop.plain.settimeout(5)
    assert hop.plain.recv(10) == b""


def _tcp_end(sock: socket.socket) -> str:
    """How the TCP connection under a TLS socket ended, read below TLS: "fin" or "rst"."""
    sock.settimeout(5)
    try:
        while socket.socket.recv(sock, 65536):  # the records still queued (session tickets) come first
            pass
    except ConnectionResetError:
        return "rst"
    return "fin"


def test_reset_sends_the_tls_peer_an_rst(tls: Relay) -> None:
    hop = tls.client_hop()
    tls.relay.reset(hop.handle)
    assert _tcp_end(hop.peer) == "rst"
    hop.plain.settimeout(5)
    assert hop.plain.recv(10) == b""  # Python's end sees the bridge go


def test_a_held_bridge_passes_nothing_until_let_go(tls: Relay) -> None:
    hop = tls.client_hop(hold=True)
    hop.peer.sendall(GET)
    assert select.select([hop.plain], [], [], 0.3)[0] == []
    tls.relay.unhold(hop.handle)
    assert recv_exactly(hop.plain, len(GET)) == GET


def test_an_upstream_handshake_reports_how_it_ended(tls: Relay) -> None:
    hop, ended = tls.upstream_hop()
    assert hop is not None and ended == (True, "", 0)
    hop.plain.sendall(GET)
    assert recv_exactly(hop.peer, len(GET)) == GET


def test_an_upstream_that_does_not_verify_is_the_certificate_error_python_raises(tls: Relay) -> None:
    hop, (ok, message, verify) = tls.upstream_hop(ca=tls.certs.other_ca)
    assert hop is None and ok is False and verify != 0
    assert "certificate verify failed" in message
    assert is_certificate_error(relay.handshake_error(message, verify))
    _, (ok, message, verify) = tls.upstream_hop(name="elsewhere.test")  # the right CA, the wrong name
    assert ok is False and "certificate verify failed" in message and "mismatch" in message


def test_joined_sessions_relay_frame_and_count_and_split_back_into_bridges(tls: Relay) -> None:
    client = tls.client_hop(hold=True)
    upstream, _ = tls.upstream_hop()
    assert upstream is not None
    client.peer.sendall(GET)  # held in the session: the join takes it along
    slot = tls.relay.join(client.handle, upstream.handle, 0, False, ())
    assert slot is not None
    assert recv_exactly(upstream.peer, len(GET)) == GET
    upstream.peer.sendall(OK)
    assert recv_exactly(client.peer, len(OK)) == OK
    client.plain.settimeout(5)
    assert client.plain.recv(10) == b""  # the bridges' socket pairs are done with
    assert tls.relay.stats(slot) == (1, len(GET), len(OK))

    back = tls.relay.release(slot)
    reason, _, client_fd, server_fd, requests, up, down = back[:7]
    assert (reason, requests, up, down) == (_relay.RELEASED, 1, len(GET), len(OK))
    client_bridge, server_bridge = back[12:]
    assert client_bridge and server_bridge
    with socket.socket(fileno=client_fd) as python_client, socket.socket(fileno=server_fd) as python_server:
        client.peer.sendall(GET)  # the same TLS connections, in plaintext on Python's side now
        assert recv_exactly(python_client, len(GET)) == GET
        python_server.sendall(GET)
        assert recv_exactly(upstream.peer, len(GET)) == GET
        upstream.peer.sendall(OK)
        assert recv_exactly(python_server, len(OK)) == OK
        python_client.sendall(OK)
        assert recv_exactly(client.peer, len(OK)) == OK


def test_a_request_the_framer_leaves_to_python_splits_the_pair_with_it_unframed(tls: Relay) -> None:
    client = tls.client_hop(hold=True)
    upstream, _ = tls.upstream_hop()
    assert upstream is not None
    slot = tls.relay.join(client.handle, upstream.handle, 0, False, ())
    assert slot is not None
    chunked = b"POST /token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    client.peer.sendall(GET + chunked)
    assert recv_exactly(upstream.peer, len(GET)) == GET  # framed: written on
    assert _collected(tls.relay) == [slot]
    back = tls.relay.release(slot)
    assert back[0] == _relay.FRAMING and back[4] == 1
    assert back[9:12] == (b"", chunked, b"")  # the rest is Python's to frame, none of it written
    os.close(back[2])
    os.close(back[3])


def test_join_waits_while_bytes_are_on_their_way_through_a_bridge(tls: Relay) -> None:
    client = tls.client_hop(hold=True)
    upstream, _ = tls.upstream_hop()
    assert upstream is not None
    upstream.peer.sendall(OK)  # read by the server's bridge, not yet by Python
    deadline = time.monotonic() + 5
    while not select.select([upstream.plain], [], [], 0.05)[0] and time.monotonic() < deadline:
        pass
    assert tls.relay.join(client.handle, upstream.handle, 0, False, ()) is None
    assert recv_exactly(upstream.plain, len(OK)) == OK
    assert tls.relay.join(client.handle, upstream.handle, 0, False, ()) is not None


def test_contexts_refuse_files_they_cannot_use(certs: Certs, tmp_path: Path) -> None:
    if not relay.TLS:
        pytest.fail("the relay has no TLS (test_the_relay_speaks_tls)")
    with pytest.raises(ValueError, match="certificate and key"):
        _relay.server_context(certs.cert, certs.ca)  # a certificate is not its key
    with pytest.raises(ValueError, match="CA"):
        _relay.client_context(str(tmp_path / "missing.pem"))
    assert relay.native_context(True, certs.cert, certs.ca) is None  # the proxy then does TLS in Python
