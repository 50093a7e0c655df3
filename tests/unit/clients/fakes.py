"""A scripted requests transport and a fake clock/sleep: client tests neither open sockets nor sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import requests
from requests.adapters import BaseAdapter

from harness.contract import AttemptRow, OperationRow

Scripted = tuple[int, dict[str, str], bytes]
Step = int | Scripted | BaseException  # a status, (status, headers, body), or what the transport raises


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next item: an int status, (status, headers, body), or an exception."""

    def __init__(self, script: Iterable[Step]):
        super().__init__()
        self.script = list(script)
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.requests.append(request)
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        status, headers, body = (item, {}, b"{}") if isinstance(item, int) else item
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = body if isinstance(body, bytes) else body.encode()
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        pass


def scripted_session(script: Iterable[Step]) -> tuple[requests.Session, ScriptedAdapter]:
    session = requests.Session()
    adapter = ScriptedAdapter(script)
    session.mount("http://", adapter)
    return session, adapter


class FakeTime:
    """time.time/perf_counter/sleep stand-ins: sleeping advances the clock, nothing waits."""

    def __init__(self, start: float = 1_000.0):
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advancing(self, step: float) -> Callable[[], float]:
        def tick() -> float:
            self.now += step
            return self.now

        return tick


class ListSink:
    def __init__(self) -> None:
        self.attempts: list[AttemptRow] = []
        self.operations: list[OperationRow] = []

    def attempt(self, row: AttemptRow) -> None:
        self.attempts.append(row)

    def operation(self, row: OperationRow) -> None:
        self.operations.append(row)
