"""The native relay (harness/proxy/_relay.c) on its own, over real loopback TCP connections: it moves bytes
both ways, frames requests as the Python framer would (or leaves them to it), and hands a connection back
with every byte it owes, in order."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.proxy import relay
from harness.proxy.http import HttpMatch, _path_of
from harness.proxy.sieve import PATH_ANY, PATH_EXACT, PATH_PREFIX, RequestSieve
from tests.helpers import LOOPBACK, recv_exactly

if relay.AVAILABLE:  # a build without a C compiler has no relay: test_the_relay_is_built says so
    from harness.proxy import _relay


def test_the_relay_is_built() -> None:
    """`make install` builds the relay: a checkout where it was not (no compiler) relays in Python only,
    and this suite must say so rather than skip its tests."""
    assert relay.AVAILABLE, "harness/proxy/_relay.c was not built (is a C compiler installed?)"


@dataclass
class Wired:
    """A client and a server, with the relay between the proxy's two sockets (it holds dup()s of them)."""

    relay: _relay.Relay
    slot: int
    client: socket.socket  # the client's end
    server: socket.socket  # the upstream's end
    proxy_sides: tuple[socket.socket, socket.socket]  # the proxy's ends

    def handed(self, timeout_s: float = 3.0) -> list[int]:
        select.select([self.relay.fileno()], [], [], timeout_s)
        return list(self.relay.collect())

    def release(self) -> tuple[Any, ...]:
        """The connection back; the relay's descriptors, ours again, are closed."""
        back = self.relay.release(self.slot)
        os.close(back[2])
        os.close(back[3])
        return back


def _tcp_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    outer = socket.create_connection(listener.getsockname())
    inner, _ = listener.accept()
    return outer, inner


def _add_dups(r: _relay.Relay, a: socket.socket, b: socket.socket) -> int:
    return int(r.add(os.dup(a.fileno()), os.dup(b.fileno())))


@pytest.fixture
def wired() -> Iterator[Wired]:
    r = _relay.Relay()
    with socket.create_server((LOOPBACK, 0)) as listener:
        client, proxy_client = _tcp_pair(listener)
        proxy_server, server = _tcp_pair(listener)
    yield Wired(r, _add_dups(r, proxy_client, proxy_server), client, server, (proxy_client, proxy_server))
    r.close()  # closes what it still holds
    for sock in (client, server, proxy_client, proxy_server):
        sock.close()


def test_bytes_go_both_ways_and_requests_are_counted(wired: Wired) -> None:
    get = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    wired.client.sendall(get)
    assert recv_exactly(wired.server, len(get)) == get
    wired.server.sendall(response)
    assert recv_exactly(wired.client, len(response)) == response
    body = b"grant_type=client_credentials"
    post = b"POST /token HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
    wired.client.sendall(post + body[:10])  # the body split over two reads
    time.sleep(0.05)
    wired.client.sendall(body[10:] + get)  # the rest, and the next request with it (pipelined)
    assert recv_exactly(wired.server, len(post + body + get)) == post + body + get
    up = len(get) * 2 + len(post + body)
    assert wired.relay.stats(wired.slot) == (3, up, len(response))
    back = wired.release()
    assert back[0] == _relay.RELEASED
    assert back[4:9] == (3, up, len(response), 0, True)  # between requests, the last one unanswered
    assert back[9:12] == (b"", b"", b"")


def test_a_release_mid_body_says_how_much_is_left(wired: Wired) -> None:
    wired.client.sendall(b"PUT /x HTTP/1.1\r\ncontent-length:  100 \r\n\r\n" + b"b" * 30)
    recv_exactly(wired.server, 72)
    back = wired.release()
    assert back[0] == _relay.RELEASED
    assert (back[4], back[7], back[8]) == (1, 70, False)  # one request, 70 body bytes to come


@pytest.mark.parametrize(
    "head",
    [
        b"POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        b"CONNECT idp:443 HTTP/1.1\r\n\r\n",
        b"POST /t HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"POST /t HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
        b"GET  /two-spaces HTTP/1.1\r\n\r\n",
        b"get /lower HTTP/1.1\r\n\r\n",
        b"GET /half-a-head HTTP/1.1\r\nHost: x\r\n",
        b"\r\nGET /after-a-stray-crlf HTTP/1.1\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n",
    ],
)
def test_what_its_framer_cannot_frame_goes_back_unframed_after_what_it_could(wired: Wired, head: bytes) -> None:
    first = b"GET /ok HTTP/1.1\r\n\r\n"
    wired.client.sendall(first + head)
    assert wired.handed() == [wired.slot]
    assert recv_exactly(wired.server, len(first)) == first  # the request before it went on
    back = wired.release()
    assert back[0] == _relay.FRAMING
    assert back[4:7] == (1, len(first + head), 0)
    assert back[9:12] == (b"", head, b"")  # the rest is Python's to frame, none of it written


def test_an_end_of_stream_is_passed_on_as_a_half_close_and_both_close_the_pair(wired: Wired) -> None:
    wired.server.shutdown(socket.SHUT_WR)  # the upstream is done sending (nginx at keepalive_requests)
    wired.client.settimeout(3)
    assert wired.client.recv(10) == b""  # passed on: the client sees the end
    late = b"GET /late HTTP/1.1\r\n\r\n"
    wired.client.sendall(late)  # the other way still goes
    assert recv_exactly(wired.server, len(late)) == late
    wired.client.shutdown(socket.SHUT_WR)
    assert wired.handed() == [wired.slot]
    back = wired.relay.release(wired.slot)
    assert back[0] == _relay.CLOSED and back[2:4] == (-1, -1)  # closed by the relay: nothing left to Python
    assert back[4:7] == (1, len(late), 0)
    wired.server.settimeout(3)
    assert wired.server.recv(10) == b""


def test_the_last_bytes_and_the_end_that_come_together_both_get_through(wired: Wired) -> None:
    wired.relay.close()  # the bytes and the end are there before a relay looks: one event says both
    wired.server.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    wired.server.shutdown(socket.SHUT_WR)
    time.sleep(0.05)
    r = _relay.Relay()
    slot = _add_dups(r, *wired.proxy_sides)
    try:
        wired.client.settimeout(3)
        received = b""
        while chunk := wired.client.recv(65536):
            received += chunk
        assert received.endswith(b"\r\n\r\nok")  # and then the end, or recv would have timed out
        assert r.stats(slot)[2] == len(received)
    finally:
        r.close()


def test_a_reset_is_left_for_the_transport_that_takes_over(wired: Wired) -> None:
    wired.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    wired.client.close()  # an RST
    assert wired.handed() == [wired.slot]
    back = wired.relay.release(wired.slot)
    assert back[0] == _relay.END
    with (
        socket.socket(fileno=back[2]) as client_side,
        socket.socket(fileno=back[3]),
        pytest.raises(ConnectionResetError),  # the relay did not read the error away
    ):
        client_side.recv(10)


def test_the_relay_never_closes_what_it_hands_back(wired: Wired) -> None:
    back = wired.relay.release(wired.slot)
    wired.relay.close()
    for fd in back[2:4]:
        with socket.socket(fileno=fd) as sock:
            assert sock.getsockname()[0] == LOOPBACK  # still open


def test_close_closes_what_it_still_holds() -> None:
    r = _relay.Relay()
    with socket.create_server((LOOPBACK, 0)) as listener:
        client, proxy_client = _tcp_pair(listener)
        proxy_server, server = _tcp_pair(listener)
    with client, server:
        _add_dups(r, proxy_client, proxy_server)
        proxy_client.close()
        proxy_server.close()
        assert r.active() == 1
        r.close()  # the relay's dups were the last: the peers see the end
        client.settimeout(3)
        server.settimeout(3)
        assert client.recv(10) == b"" and server.recv(10) == b""
        with pytest.raises(ValueError, match="closed"):
            r.add(0, 1)


def test_a_released_slot_is_not_offered_again_and_slots_are_reused(wired: Wired) -> None:
    wired.client.sendall(b"SSH-2.0-OpenSSH\r\n")
    time.sleep(0.1)  # handed back by the relay (not HTTP), not collected yet
    wired.release()
    assert wired.relay.collect() == []  # released meanwhile: nothing to offer
    with pytest.raises(KeyError):
        wired.relay.release(wired.slot)
    assert _add_dups(wired.relay, *wired.proxy_sides) == wired.slot
    assert wired.relay.active() == 1


def test_the_relay_numbers_its_path_tests_as_the_sieve_does() -> None:
    assert (_relay.PATH_ANY, _relay.PATH_EXACT, _relay.PATH_PREFIX) == (PATH_ANY, PATH_EXACT, PATH_PREFIX)


@pytest.mark.parametrize(
    ("matches", "request_line", "sifted"),
    [
        ([{"path": "/never"}], b"GET /token HTTP/1.1", False),
        ([{"path": "/token"}], b"GET /token?x=1 HTTP/1.1", True),  # the query is not the path
        ([{"path": "/token"}], b"GET /token/ HTTP/1.1", False),
        ([{"path": "/tok", "match": "prefix"}], b"POST /token HTTP/1.1", True),
        ([{"method": "POST", "path": "/token"}], b"GET /token HTTP/1.1", False),
        ([{"method": "POST"}], b"POST /anything HTTP/1.1", True),
        ([{"method": "POST"}], b"PUT /anything HTTP/1.1", False),
        ([{"path": "/token"}], b"GET http://idp/token HTTP/1.1", True),  # absolute form: left to Python
        ([{"path": "/é"}], b"GET /\xe9 HTTP/1.1", True),  # latin-1, as http._path_of decodes a path
        ([{"path": "/never"}, {"method": "DELETE", "path": "/keys", "match": "prefix"}], b"DELETE /keys/1 HTTP/1.1",
         True),
    ],
)  # fmt: skip
def test_a_request_an_http_toxic_may_match_goes_back_before_any_of_it_is_written(
    wired: Wired, matches: list[dict[str, str]], request_line: bytes, sifted: bool
) -> None:
    sieve = RequestSieve.of(HttpMatch.model_validate(m) for m in matches)
    assert sieve is not None and sieve.native is not None
    assert sieve.may_match(*_method_and_path(request_line)) is sifted  # the Python sieve says the same
    wired.relay.sift(wired.slot, sieve.native)
    first, request = b"GET /never-mind HTTP/1.1\r\n\r\n", request_line + b"\r\nHost: idp\r\n\r\n"
    wired.client.sendall(first + request)
    if sifted:
        assert wired.handed() == [wired.slot]
        assert recv_exactly(wired.server, len(first)) == first
        assert wired.release()[10] == request
    else:
        assert recv_exactly(wired.server, len(first + request)) == first + request
        assert wired.relay.stats(wired.slot)[0] == 2


def test_rules_given_with_the_sockets_hold_for_a_request_already_in_them() -> None:
    """A connection going native while an HTTP toxic is on: its rules come with add(), so a request
    already waiting in the socket is sifted too (set with sift() just after, the relay thread could pass it
    first: tests/integration/proxy/test_http_corrupt_sockets.py saw a truncate toxic skip a response)."""
    sieve = RequestSieve.of([HttpMatch(path="/token")])
    assert sieve is not None and sieve.native is not None
    r = _relay.Relay()
    with socket.create_server((LOOPBACK, 0)) as listener:
        client, proxy_client = _tcp_pair(listener)
        proxy_server, server = _tcp_pair(listener)
    request = b"GET /token HTTP/1.1\r\nHost: idp\r\n\r\n"
    client.sendall(request)
    time.sleep(0.05)  # in the proxy's socket before the relay has it
    try:
        slot = r.add(os.dup(proxy_client.fileno()), os.dup(proxy_server.fileno()), 0, False, sieve.native)
        select.select([r.fileno()], [], [], 3)
        assert list(r.collect()) == [slot]
        back = r.release(slot)
        os.close(back[2])
        os.close(back[3])
        assert back[10] == request  # unread by the server, unframed: Python's to apply the toxic to
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.recv(1)
    finally:
        r.close()
        for sock in (client, server, proxy_client, proxy_server):
            sock.close()


def _method_and_path(request_line: bytes) -> tuple[bytes, bytes]:
    """As the Python framer takes them from a request line (an absolute-form target's path too)."""
    method, target, _ = request_line.split(b" ")
    return method, _path_of(target).encode("latin-1")


def test_a_regex_toxic_keeps_connections_in_python() -> None:
    sieve = RequestSieve.of([HttpMatch(path="^/t", match="regex")])
    assert sieve is not None and sieve.native is None
