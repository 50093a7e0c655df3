"""The target's ASGI app: every face's routes on one listener, sharing one set of services.

`create_app(config)` is the factory tests use; uvicorn's workers call `create_app_from_env()`, which reads
the config the parent process exported (see config.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.scenario.endpoints import EMBEDDED_PATHS
from harness.target.config import TargetConfig
from harness.target.oauth import InvalidRequest
from harness.target.oidc import OidcFace
from harness.target.overload import InflightLimit
from harness.target.services import Services

_HEALTHY = b'{"status":"ok"}'


def create_app(config: TargetConfig) -> Starlette:
    face: OidcFace | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal face
        services = Services.open(config)
        face = OidcFace(services)
        app.state.services = services
        flusher = asyncio.create_task(_flush_periodically(services, config.audit_flush_interval_s))
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            services.close()

    def oidc() -> OidcFace:
        if face is None:
            raise RuntimeError("the app's lifespan has not run")
        return face

    async def discovery(request: Request) -> Response:
        return await oidc().discovery(request)

    async def jwks(request: Request) -> Response:
        return await oidc().jwks(request)

    async def token(request: Request) -> Response:
        # One path, two faces: OAuth clients send forms, the AWS sso-oidc CreateToken sends JSON.
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            return await oidc().token(request)
        if content_type == "application/json":
            return InvalidRequest("JSON token requests (AWS CreateToken) are not served yet").response()
        return InvalidRequest("token requests must be application/x-www-form-urlencoded").response()

    async def healthz(request: Request) -> Response:
        return Response(_HEALTHY, media_type="application/json", headers={"Cache-Control": "no-store"})

    routes = [
        Route(EMBEDDED_PATHS["discovery"], discovery, methods=["GET"]),
        Route(EMBEDDED_PATHS["jwks"], jwks, methods=["GET"]),
        Route(EMBEDDED_PATHS["token"], token, methods=["POST"]),
        Route(EMBEDDED_PATHS["health"], healthz, methods=["GET"]),
    ]
    middleware = [
        Middleware(InflightLimit, max_inflight=config.max_inflight, exempt_paths=[EMBEDDED_PATHS["health"]]),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def create_app_from_env() -> Starlette:
    """Factory for uvicorn worker processes (`harness.target.app:create_app_from_env`)."""
    return create_app(TargetConfig.from_env())


async def _flush_periodically(services: Services, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        services.audit.flush()
