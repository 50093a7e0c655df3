"""The control API: Toxiproxy's HTTP API (same routes, JSON, status codes and error bodies), plus
GET /metrics. Every route is in the table at the bottom."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harness.proxy import apierrors as err
from harness.proxy.collection import ProxyCollection
from harness.proxy.metrics import render

VERSION = "2.12.0-harness"  # the Toxiproxy API version this one follows, and that it is ours

Handler = Callable[[Request], Awaitable[Response]]


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def _error(exc: err.ApiError) -> Response:
    return JSONResponse(exc.body(), status_code=exc.status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise err.BAD_REQUEST_BODY(exc) from None


def build_app(proxies: ProxyCollection) -> Starlette:
    """The API over `proxies`. Handlers run on the proxies' event loop and edit them directly."""

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            # As Toxiproxy: a web page must not be able to drive the proxy (CSRF, DNS rebinding).
            if request.headers.get("user-agent", "").startswith("Mozilla/"):
                return PlainTextResponse("User agent not allowed\n", status_code=403)
            try:
                return await handler(request)
            except err.ApiError as exc:
                return _error(exc)

        return endpoint

    async def proxy_index(request: Request) -> Response:
        return _json({name: p.to_json() for name, p in proxies.proxies.items()})

    async def proxy_create(request: Request) -> Response:
        proxy = await proxies.create(await _body(request))
        return _json(proxy.to_json(), 201)

    async def populate(request: Request) -> Response:
        try:
            done, problem = await proxies.populate(await _body(request))
        except err.ApiError as exc:  # Toxiproxy's populate errors carry the proxies done: none here
            return _json({**exc.body(), "proxies": []}, exc.status)
        body: dict[str, Any] = {"proxies": [p.to_json() for p in done]}
        if problem is not None:
            return _json({**problem.body(), **body}, problem.status)
        return _json(body, 201)

    async def proxy_show(request: Request) -> Response:
        return _json(proxies.get(request.path_params["proxy"]).to_json())

    async def proxy_update(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        body = await _body(request)
        if not isinstance(body, dict):
            raise err.BAD_REQUEST_BODY("proxy must be a JSON object")
        await proxy.update(body)
        return _json(proxy.to_json())

    async def proxy_delete(request: Request) -> Response:
        await proxies.remove(request.path_params["proxy"])
        return Response(status_code=204)

    async def toxic_index(request: Request) -> Response:
        return _json(proxies.get(request.path_params["proxy"]).toxics_json())

    async def toxic_create(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        return _json(proxy.add_toxic(await _body(request)).to_json())

    async def toxic_show(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        return _json(proxy.get_toxic(request.path_params["toxic"]).to_json())

    async def toxic_stats(request: Request) -> Response:
        # Ours, beside Toxiproxy's routes: how often the toxic actually fired (fidelity of a run).
        proxy = proxies.get(request.path_params["proxy"])
        entry = proxy.get_toxic(request.path_params["toxic"])
        return _json({"name": entry.name, **vars(entry.counters)})

    async def toxic_update(request: Request) -> Response:
        proxy = proxies.get(request.path_params["proxy"])
        return _json(proxy.update_toxic(request.path_params["toxic"], await _body(request)).to_json())

    async def toxic_delete(request: Request) -> Response:
        proxies.get(request.path_params["proxy"]).remove_toxic(request.path_params["toxic"])
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        await proxies.reset()
        return Response(status_code=204)

    async def version(request: Request) -> Response:
        return _json({"version": VERSION})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(render(proxies.counters()), media_type="text/plain; version=0.0.4")

    routes = [
        ("/reset", reset, ["POST"]),
        ("/proxies", proxy_index, ["GET"]),
        ("/proxies", proxy_create, ["POST"]),
        ("/populate", populate, ["POST"]),
        ("/proxies/{proxy}", proxy_show, ["GET"]),
        ("/proxies/{proxy}", proxy_update, ["POST", "PATCH"]),
        ("/proxies/{proxy}", proxy_delete, ["DELETE"]),
        ("/proxies/{proxy}/toxics", toxic_index, ["GET"]),
        ("/proxies/{proxy}/toxics", toxic_create, ["POST"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_show, ["GET"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_update, ["POST", "PATCH"]),
        ("/proxies/{proxy}/toxics/{toxic}/stats", toxic_stats, ["GET"]),
        ("/proxies/{proxy}/toxics/{toxic}", toxic_delete, ["DELETE"]),
        ("/version", version, ["GET"]),
        ("/metrics", metrics, ["GET"]),
    ]
    return Starlette(
        routes=[Route(path, guarded(fn), methods=methods, name=fn.__name__) for path, fn, methods in routes]
    )
