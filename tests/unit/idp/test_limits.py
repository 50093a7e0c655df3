"""The app's body limit (limits.BodyLimit) in isolation: 413 before reading when Content-Length is over
the limit, 413 as soon as a streamed body passes it, and never more than the limit handed to a handler."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from harness.idp.limits import BodyLimit

LIMIT = 1000


def make(swallow: bool = False) -> tuple[TestClient, list[int]]:
    seen: list[int] = []

    async def echo(request: Request) -> Response:
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                seen.append(size)
        except Exception:
            if not swallow:
                raise
        return PlainTextResponse(str(size))

    app = Starlette(routes=[Route("/", echo, methods=["POST"])],
                    middleware=[Middleware(BodyLimit, max_body_bytes=LIMIT)])
    return TestClient(app), seen


def test_within_the_limit_the_body_passes() -> None:
    client, _ = make()
    response = client.post("/", content=b"x" * LIMIT)
    assert response.status_code == 200 and response.text == str(LIMIT)


def test_a_declared_length_over_the_limit_is_413_unread() -> None:
    client, seen = make()
    response = client.post("/", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413 and response.headers["connection"] == "close"
    assert response.json()["error"] == "invalid_request" and seen == []


def chunks(n: int, size: int = 300) -> Iterator[bytes]:
    for _ in range(n):
        yield b"x" * size


def test_a_streamed_body_is_cut_off_at_the_limit() -> None:
    client, seen = make()
    response = client.post("/", content=chunks(100))  # chunked: no Content-Length
    assert response.status_code == 413
    assert max(seen, default=0) <= LIMIT


def test_a_handler_that_swallows_the_error_still_gives_413() -> None:
    client, _ = make(swallow=True)
    assert client.post("/", content=chunks(100)).status_code == 413
