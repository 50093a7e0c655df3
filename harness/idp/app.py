"""The target's ASGI app: every face's routes on one listener, sharing one set of services.

`create_app(config)` is the factory tests use; uvicorn's workers call `create_app_from_env()`, which reads
the config the parent process exported (see config.py). Paths come from harness/scenario/endpoints.py;
`/token` and `/device_authorization` dispatch on the content type: a form is the OIDC face, JSON is AWS
sso-oidc (botocore always sends application/json).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from harness.endpoints import EMBEDDED_PATHS as P
from harness.idp.aws import AwsOidcFace
from harness.idp.awserrors import OIDC_NAMESPACE
from harness.idp.browser import BrowserFace
from harness.idp.chaos import ChaosMiddleware, ChaosState
from harness.idp.chaosapi import ChaosApi
from harness.idp.config import TargetConfig
from harness.idp.forgery import ForgeryHeader
from harness.idp.hot import HotDocuments
from harness.idp.limits import BodyLimit
from harness.idp.oauth import InvalidRequest, json_response
from harness.idp.oidc import DISCOVERY_CACHE, JWKS_CACHE, JsonDocument, OidcFace
from harness.idp.overload import Inflight, InflightLimit
from harness.idp.portal import PortalFace
from harness.idp.requestid import RequestIdMiddleware
from harness.idp.requestlog import RequestLog, RequestLogMiddleware, open_request_log
from harness.idp.services import Services
from harness.lifeline import die_with_parent

_HEALTHY = b'{"status":"ok"}'
_log = logging.getLogger("harness.idp")
Handler = Callable[[Request], Awaitable[Response]]


class Faces:
    """Every face's handlers, built in the lifespan once the services exist."""

    def __init__(self, services: Services):
        self.services = services
        self.browser = BrowserFace(services)
        self.oidc = OidcFace(services, self.browser)
        self.aws = AwsOidcFace(services)
        self.portal = PortalFace(services)


def create_app(config: TargetConfig) -> Starlette:
    faces: Faces | None = None
    request_log: RequestLog | None = None
    chaos = ChaosState()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal faces, request_log
        services = Services.open(config, chaos)
        faces = Faces(services)
        app.state.services = services
        request_log = open_request_log(config.request_log)
        flushed = [services.audit.flush] + ([request_log.flush] if request_log else [])
        tasks = [
            *(asyncio.create_task(_every(config.audit_flush_interval_s, flush)) for flush in flushed),
            asyncio.create_task(_every(config.control_poll_interval_s, services.refresh_control)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if request_log is not None:
                request_log.close()
                request_log = None
            services.close()

    def get() -> Faces:
        if faces is None:
            raise RuntimeError("the app's lifespan has not run")
        return faces

    def bind(pick: Callable[[Faces], Handler]) -> Handler:
        async def handler(request: Request) -> Response:
            return await pick(get())(request)

        return handler

    def by_content_type(form: Callable[[Faces], Handler], aws: Callable[[Faces], Handler]) -> Handler:
        # One path, two faces: OAuth clients send forms, AWS sso-oidc sends JSON.
        async def handler(request: Request) -> Response:
            content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
            if content_type == "application/x-www-form-urlencoded":
                return await form(get())(request)
            if content_type == "application/json":
                return await aws(get())(request)
            return InvalidRequest("requests must be application/x-www-form-urlencoded (or JSON for AWS)").response()

        return handler

    async def healthz(request: Request) -> Response:
        return Response(_HEALTHY, media_type="application/json", headers={"Cache-Control": "no-store"})

    discovery = JsonDocument(lambda: get().oidc.discovery_json, DISCOVERY_CACHE)
    jwks = JsonDocument(lambda: get().services.jwks_json, JWKS_CACHE)
    inflight = Inflight(config.max_inflight)
    routes = [
        Route(P["discovery"], discovery, methods=["GET"]),
        Route(P["jwks"], jwks, methods=["GET"]),
        Route(P["token"], by_content_type(lambda f: f.oidc.token, lambda f: f.aws.create_token), methods=["POST"]),
        Route(
            P["device_authorization"],
            by_content_type(lambda f: f.oidc.device_authorization, lambda f: f.aws.start_device_authorization),
            methods=["POST"],
        ),
        Route(P["register_client"], bind(lambda f: f.aws.register_client), methods=["POST"]),
        Route(P["authorize"], bind(lambda f: f.browser.authorize), methods=["GET", "POST"]),
        Route(P["login"], bind(lambda f: f.browser.login_form), methods=["GET"]),
        Route(P["login"], bind(lambda f: f.browser.login), methods=["POST"]),
        Route(P["device_verification"], bind(lambda f: f.browser.device_page), methods=["GET"]),
        Route(P["device_verification"], bind(lambda f: f.browser.device_submit), methods=["POST"]),
        Route(P["userinfo"], bind(lambda f: f.oidc.userinfo), methods=["GET", "POST"]),
        Route(P["introspection"], bind(lambda f: f.oidc.introspect), methods=["POST"]),
        Route(P["revocation"], bind(lambda f: f.oidc.revoke), methods=["POST"]),
        Route(P["end_session"], bind(lambda f: f.oidc.end_session), methods=["GET", "POST"]),
        Route(P["role_credentials"], bind(lambda f: f.portal.get_role_credentials), methods=["GET"]),
        Route(P["list_accounts"], bind(lambda f: f.portal.list_accounts), methods=["GET"]),
        Route(P["list_account_roles"], bind(lambda f: f.portal.list_account_roles), methods=["GET"]),
        Route(P["logout"], bind(lambda f: f.portal.logout), methods=["POST"]),
        Route(P["health"], healthz, methods=["GET"]),
        *ChaosApi(lambda: get().services).routes(),
    ]
    middleware = [
        Middleware(RequestIdMiddleware),
        # only with --request-log: without it a request pays nothing for the option
        *([Middleware(RequestLogMiddleware, log=lambda: request_log)] if config.request_log else []),
        Middleware(InflightLimit, counts=inflight, exempt_paths=[P["health"]]),
        Middleware(BodyLimit, max_body_bytes=config.max_body_bytes),
        Middleware(ChaosMiddleware, state=chaos),
        Middleware(ForgeryHeader, forging=lambda: bool(chaos.forgeries), paths=frozenset({P["token"]})),
    ]
    handlers = {sqlite3.OperationalError: _store_busy, ClientDisconnect: _client_gone, Exception: _internal_error}
    hot = HotDocuments({P["discovery"]: discovery, P["jwks"]: jwks}, chaos, inflight, bool(config.request_log))
    return TargetApp(hot, routes=routes, middleware=middleware, lifespan=lifespan, exception_handlers=handlers)


class TargetApp(Starlette):
    """The app, with the hot path (hot.py) in front of everything Starlette does."""

    def __init__(self, hot: HotDocuments, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        document = self.hot.takes(scope)
        if document is not None:
            await self.hot.answer(document, send)
            return
        await super().__call__(scope, receive, send)


def create_app_from_env() -> Starlette:
    """Factory for uvicorn worker processes (`harness.idp.app:create_app_from_env`). A worker of several
    dies with its supervisor: killed hard, the supervisor cannot stop its workers, and they would keep the
    port (harness.lifeline; uvicorn forks workers from its main thread, which lives as long as it does)."""
    supervisor = multiprocessing.parent_process()
    if supervisor is not None and supervisor.pid is not None:
        die_with_parent(supervisor.pid)
    return create_app(TargetConfig.from_env())


async def _store_busy(request: Request, exc: Exception) -> Response:
    # A store locked beyond busy_timeout is overload, not a bug: ask the client to come back.
    _log.warning("store busy on %s: %s", request.url.path, exc)
    return json_response(
        {"error": "temporarily_unavailable", "error_description": "store busy, retry later"},
        status=503,
        headers={"Retry-After": "1", "Cache-Control": "no-store"},
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client went away (or was cut off as too slow) while we read its body: nobody hears the answer.
    return Response(b"", status_code=400, headers={"Connection": "close"})


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Never a stack trace in a body; the log has it. The header lets botocore raise InternalServerException.
    _log.exception("unhandled error on %s", request.url.path)
    return json_response(
        {"__type": f"{OIDC_NAMESPACE}#InternalServerException", "error": "server_error",
         "error_description": "internal error", "message": "internal error"},
        status=500,
        headers={"x-amzn-ErrorType": "InternalServerException", "Cache-Control": "no-store"},
    )


async def _every(interval_s: float, action: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            action()
        except Exception:  # a periodic chore must not die of one bad round (e.g. a locked store)
            _log.exception("periodic task failed")
