"""The hot path (harness/idp/hot.py) answers discovery and the JWKS as the full path does, and leaves every
request a layer of the app would act on to the full path: a fault of the chaos API, a body, a server at
its in-flight limit, a method other than GET. (A request log, the remaining case, is held by
test_request_log.py: a JWKS request is logged.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from harness.idp.app import TargetApp, create_app
from harness.idp.chaosapi import admin_token_sha256
from harness.idp.config import TargetConfig
from tests.unit.idp.conftest import ISSUER, seed

DOCUMENTS = ("/.well-known/openid-configuration", "/.well-known/jwks.json")
ADMIN = "adm-unit-token"
PER_ANSWER = {"date", "x-amzn-requestid"}


class Served:
    """The app, and how many answers its hot path gave."""

    def __init__(self, app: TargetApp, http: TestClient):
        self.app, self.http, self.hot = app, http, 0
        answer = app.hot.answer

        async def counted(*args: Any) -> None:
            self.hot += 1
            await answer(*args)

        app.hot.answer = counted  # type: ignore[method-assign,assignment]


@pytest.fixture
def served(config: TargetConfig) -> Iterator[Served]:
    config = replace(config, admin_token_sha256=admin_token_sha256(ADMIN))
    seed(config)
    app = create_app(config)
    assert isinstance(app, TargetApp)
    with TestClient(app, base_url=ISSUER) as http:
        yield Served(app, http)


def answer(response: Any) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, {k: v for k, v in response.headers.items() if k not in PER_ANSWER}, response.content


def test_the_hot_answer_is_the_full_paths(served: Served) -> None:
    for path in DOCUMENTS:
        before = served.hot
        hot = served.http.get(path)
        assert served.hot == before + 1
        full = served.http.get(path, headers={"Content-Length": "0"})  # a body header: the full path
        assert served.hot == before + 1
        assert hot.status_code == 200 and answer(hot) == answer(full)
        ids = {hot.headers["x-amzn-requestid"], full.headers["x-amzn-requestid"]}
        assert len(ids) == 2 and all(len(i) == 24 for i in ids)  # one of its own each, as the full path's


def test_a_fault_of_the_chaos_api_is_applied_to_the_documents(served: Served) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    rule = {"endpoint": "discovery", "status": 503, "probability": 1.0}
    assert served.http.put("/chaos/errors", json=rule, headers=auth).status_code == 200
    assert served.http.get(DOCUMENTS[0]).status_code == 503
    assert served.http.get(DOCUMENTS[1]).status_code == 200  # another endpoint's fault, through the full path
    assert served.hot == 0
    assert served.http.delete("/chaos/errors", headers=auth).status_code == 200
    assert served.http.get(DOCUMENTS[0]).status_code == 200
    assert served.hot == 1


def test_a_server_at_its_limit_sheds_the_documents_and_counts_them(served: Served) -> None:
    counts = served.app.hot.inflight
    counts.inflight = counts.max_inflight  # as if that many requests were being served
    shed = served.http.get(DOCUMENTS[0])
    assert shed.status_code == 429 and shed.headers["retry-after"] == "1"
    assert counts.rejected == 1 and served.hot == 0
    counts.inflight = 0
    assert served.http.get(DOCUMENTS[0]).status_code == 200 and served.hot == 1
    assert counts.inflight == 0


def test_a_hot_answer_counts_as_in_flight_while_it_is_sent(served: Served) -> None:
    hot = served.app.hot
    seen: list[int] = []

    async def send(message: Any) -> None:
        seen.append(hot.inflight.inflight)

    document = hot.takes({"type": "http", "method": "GET", "path": DOCUMENTS[1], "headers": []})
    assert document is not None
    asyncio.run(hot.answer(document, send))
    assert seen == [1, 1] and hot.inflight.inflight == 0


def test_only_a_get_without_a_body_takes_the_hot_path(served: Served) -> None:
    hot = served.app.hot
    scope = {"type": "http", "method": "GET", "path": DOCUMENTS[0], "headers": [(b"host", b"idp")]}
    assert hot.takes(scope) is not None
    assert hot.takes({**scope, "method": "HEAD"}) is None
    assert hot.takes({**scope, "path": "/token"}) is None
    assert hot.takes({**scope, "headers": [(b"transfer-encoding", b"chunked")]}) is None
    assert served.http.post(DOCUMENTS[0]).status_code == 405  # Starlette's, as before
