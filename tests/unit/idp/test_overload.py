from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import Receive, Scope, Send

from harness.idp.overload import Inflight, InflightLimit


class GatedApp:
    """Answers 200 once its gate opens, so requests can be held in flight."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(app: Any, path: str = "/token") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "POST", "headers": []}, receive, send)
    return sent


def test_requests_above_the_limit_get_429_with_retry_after() -> None:
    async def scenario() -> None:
        inner = GatedApp()
        limit = InflightLimit(inner, Inflight(2), exempt_paths=["/healthz"])
        held = [asyncio.create_task(call(limit)) for _ in range(2)]
        while inner.entered < 2:
            await asyncio.sleep(0)
        rejected = await call(limit)
        assert rejected[0]["status"] == 429
        headers = dict(rejected[0]["headers"])
        assert headers[b"retry-after"] == b"1"
        assert b'"temporarily_unavailable"' in rejected[1]["body"]
        assert limit.counts.rejected == 1

        # The health probe is not shed, and is held like any request.
        probe = asyncio.create_task(call(limit, "/healthz"))
        while inner.entered < 3:
            await asyncio.sleep(0)

        inner.gate.set()
        for result in [*await asyncio.gather(*held), await probe]:
            assert result[0]["status"] == 200
        assert limit.counts.inflight == 0
        assert (await call(limit))[0]["status"] == 200

    asyncio.run(scenario())


def test_inflight_count_recovers_after_an_exception() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        limit = InflightLimit(failing, Inflight(1))
        for _ in range(3):
            with contextlib.suppress(RuntimeError):
                await call(limit)
        assert limit.counts.inflight == 0

    asyncio.run(scenario())


def test_each_shed_answer_carries_its_own_request_id_only() -> None:
    # The 429 is one shared message; the request-id middleware outside it must not add to it in place,
    # or every shed answer would carry the ids of all the ones before it.
    from harness.idp.requestid import HEADER, RequestIdMiddleware

    async def scenario() -> None:
        inner = GatedApp()
        app = RequestIdMiddleware(InflightLimit(inner, Inflight(1)))
        held = asyncio.create_task(call(app))
        while inner.entered < 1:
            await asyncio.sleep(0)
        ids = []
        for _ in range(3):
            start = (await call(app))[0]
            assert start["status"] == 429
            found = [value for name, value in start["headers"] if name == HEADER]
            assert len(found) == 1
            ids.append(found[0])
        assert len(set(ids)) == 3
        inner.gate.set()
        await held

    asyncio.run(scenario())
