"""The target writes a response's head and body in one write (harness/idp/protocol.py, OneWrite): one
syscall and one TCP segment per answer instead of uvicorn's two, and nothing held back or reordered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from harness.idp.protocol import OneWrite


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")

    def is_closing(self) -> bool:
        return False


class FakeLoop:
    def __init__(self) -> None:
        self.soon: list[Callable[[], None]] = []

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    def turn(self) -> None:
        ready, self.soon = self.soon, []
        for callback in ready:
            callback()


def one_write() -> tuple[OneWrite, FakeTransport, FakeLoop]:
    transport, loop = FakeTransport(), FakeLoop()
    return OneWrite(cast(asyncio.Transport, transport), cast(asyncio.AbstractEventLoop, loop)), transport, loop


def test_head_and_body_leave_in_one_write() -> None:
    writer, transport, loop = one_write()
    writer.arm()
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.calls == []
    writer.write(b"{}")
    assert transport.calls == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    loop.turn()
    assert len(transport.calls) == 1  # nothing left to flush


def test_a_head_without_a_body_in_the_same_turn_leaves_at_the_next_turn() -> None:
    writer, transport, loop = one_write()
    writer.arm()
    writer.write(b"HEAD-ONLY")
    loop.turn()
    assert transport.calls == [b"HEAD-ONLY"]
    writer.write(b"chunk")
    assert transport.calls == [b"HEAD-ONLY", b"chunk"]


def test_close_and_flush_send_a_held_head_first() -> None:
    writer, transport, _ = one_write()
    writer.arm()
    writer.write(b"head")
    writer.close()
    assert transport.calls == [b"head", "close"]
    writer.arm()
    writer.write(b"next")
    writer.flush()
    assert transport.calls[-1] == b"next"


def test_writes_keep_their_order_when_armed_again_mid_response() -> None:
    writer, transport, loop = one_write()
    writer.arm()
    writer.write(b"1")
    writer.arm()  # a pipelined request's cycle arrives before the first answer is whole
    writer.write(b"2")
    writer.write(b"3")
    loop.turn()
    assert b"".join(c for c in transport.calls if isinstance(c, bytes)) == b"123"


def test_writes_before_arming_pass_straight_through() -> None:
    writer, transport, _ = one_write()
    writer.write(b"a")
    writer.write(b"b")
    assert transport.calls == [b"a", b"b"]
