"""The standard OIDC face: discovery, JWKS, the form-encoded token and device authorization endpoints,
userinfo (OIDC Core 5.3), introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout.
The browser-facing pages (/authorize, /login, /device) are in browser.py.

Discovery is serialized once per process and JWKS once per key ring; the token endpoint parses the form
itself (no multipart dependency, and cheaper than a general form parser), authenticates the client and
hands over to the grant registry.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from harness.endpoints import EMBEDDED_PATHS
from harness.idp import bearer, clientauth, devices, directory
from harness.idp.browser import BrowserFace
from harness.idp.config import TargetConfig
from harness.idp.directory import DEVICE_GRANT, SCOPES_SUPPORTED
from harness.idp.forms import parse_form
from harness.idp.grants import GRANTS, granted_scope
from harness.idp.keys import SUPPORTED_ALGS
from harness.idp.oauth import (
    NO_STORE,
    InvalidClient,
    InvalidRequest,
    OAuthError,
    RateLimited,
    UnauthorizedClient,
    UnsupportedGrantType,
    json_bytes,
    json_response,
)
from harness.idp.redirects import redirect_allowed
from harness.idp.services import Services
from harness.idp.store import ClientRecord

DISCOVERY_CACHE = "public, max-age=300"
# Short, so that verifiers notice a key rotation within a minute.
JWKS_CACHE = "public, max-age=60"
FORM = "application/x-www-form-urlencoded"
INACTIVE = json_bytes({"active": False})
# end_session revokes the access and refresh tokens of every login made in the ended session, except the
# logins granted offline_access, which outlive the session by design (OIDC Core 11)
END_SESSION_TOKEN_POLICY = "revoke_session_logins_except_offline_access"


def discovery_document(config: TargetConfig, grant_types: Iterable[str]) -> dict[str, Any]:
    """OpenID Provider Metadata (OIDC Discovery 1.0 section 3), listing only what this target serves."""
    url, paths = config.url, EMBEDDED_PATHS
    return {
        "issuer": config.issuer,
        "authorization_endpoint": url(paths["authorize"]),
        "token_endpoint": url(paths["token"]),
        "jwks_uri": url(paths["jwks"]),
        "userinfo_endpoint": url(paths["userinfo"]),
        "device_authorization_endpoint": url(paths["device_authorization"]),
        "introspection_endpoint": url(paths["introspection"]),
        "revocation_endpoint": url(paths["revocation"]),
        "end_session_endpoint": url(paths["end_session"]),
        "grant_types_supported": sorted(grant_types),
        "token_endpoint_auth_methods_supported": list(clientauth.AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": list(clientauth.AUTH_METHODS),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [config.signing_alg],
        "access_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "jti", "client_id", "scope", "email", "sid",
            "preferred_username",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
        # Not a registered member: what end_session does to the tokens of the logins it ends (README).
        "end_session_token_policy": END_SESSION_TOKEN_POLICY,
    }


class JsonDocument:
    """A GET endpoint that answers one JSON document (discovery, JWKS) as a bare ASGI app: no Request or
    Response object per request, and its header list is built once per document, not once per answer.
    These are the endpoints every verifier and client polls; Starlette's request and response objects were
    a third of the app's time on them (issue 22). `body()` returns the current document: the same bytes
    object until it changes (JWKS on a key rotation), so a change is seen by identity."""

    def __init__(self, body: Callable[[], bytes], cache_control: str):
        self._body = body
        self._cache_control = cache_control.encode("ascii")
        self._last: bytes | None = None
        self._headers: list[tuple[bytes, bytes]] = []

    def current(self) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The answer's headers and body now (also what the hot path, hot.py, answers)."""
        body = self._body()
        if body is not self._last:
            # In the order Starlette's Response writes them, so that the answer did not change. The list is
            # shared by every answer until the document changes: middlewares copy a message to change it.
            self._headers = [(b"cache-control", self._cache_control),
                             (b"content-length", str(len(body)).encode("ascii")),
                             (b"content-type", b"application/json")]  # fmt: skip
            self._last = body
        return self._headers, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers, body = self.current()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class OidcFace:
    """Handlers of the OIDC face, bound to one process's services."""

    def __init__(self, services: Services, browser: BrowserFace):
        self.services = services
        self.browser = browser
        self.discovery_json = json_bytes(discovery_document(services.config, GRANTS))  # JsonDocument serves it

    async def token(self, request: Request) -> Response:
        """`POST /token` with an application/x-www-form-urlencoded body (RFC 6749 sections 4 and 6)."""
        try:
            form = parse_form(await request.body())
            return json_response(self._token(request, form), headers=NO_STORE)
        except OAuthError as exc:
            return exc.response()

    def _token(self, request: Request, form: dict[str, str]) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required")
        handler = GRANTS.get(grant_type)
        if handler is None:
            raise UnsupportedGrantType(f"grant_type {grant_type[:64]!r} is not supported")
        client = self._client(request, form, allow_public=grant_type != "client_credentials")
        return handler(self.services, client, form)

    def _client(self, request: Request, form: dict[str, str], *, allow_public: bool) -> ClientRecord:
        try:
            creds = clientauth.presented_credentials(request.headers.get("authorization"), form)
            retry_after = self.services.retry_after_s(creds.client_id)
            if retry_after is not None:
                raise RateLimited("too many requests for this client", retry_after_s=retry_after)
            return clientauth.authenticate(self.services.store, creds, allow_public=allow_public)
        except InvalidClient as exc:
            self.services.audit.emit("client_auth_failed", client_id=exc.client_id, reason=exc.reason)
            raise

    async def device_authorization(self, request: Request) -> Response:
        """RFC 8628 section 3.1/3.2."""
        try:
            form = parse_form(await request.body())
            client = self._client(request, form, allow_public=True)
            if DEVICE_GRANT not in client.grant_types:
                raise UnauthorizedClient("this client may not use the device authorization grant")
            scope = granted_scope(form.get("scope"), client.scopes)
            auth = devices.start(self.services, client_id=client.client_id, scope=scope)
            body = {
                "device_code": auth.device_code,
                "user_code": auth.user_code,
                "verification_uri": auth.verification_uri,
                "verification_uri_complete": auth.verification_uri_complete,
                "expires_in": auth.expires_in,
                "interval": auth.interval,
            }
            return json_response(body, headers=NO_STORE)
        except OAuthError as exc:
            return exc.response()

    async def userinfo(self, request: Request) -> Response:
        """OIDC Core 5.3 with RFC 6750 errors; the token only in the Authorization header."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _bearer_error(401, None)
        record = self.services.access_token(token.strip())
        if record is None or record.family is None:
            self.services.audit.emit("token_rejected", endpoint="userinfo")
            return _bearer_error(401, "invalid_token")
        scopes = record.scope.split()
        if "openid" not in scopes:
            return _bearer_error(403, "insufficient_scope")
        body: dict[str, Any] = {"sub": record.sub}
        user = directory.get_user_by_sub(self.services.store, record.sub)
        if user is not None and "email" in scopes:
            body.update(email=user.email, email_verified=True)
        if user is not None and "profile" in scopes:
            body["preferred_username"] = user.username
        return json_response(body, headers=NO_STORE)

    async def introspect(self, request: Request) -> Response:
        """RFC 7662: a confidential client asks about a token; inactive tokens say nothing more. A client
        hears about its own tokens only, a declared resource server (section 2.1's protected resource)
        about any access token; everything else is `{"active": false}`, so a registered client cannot use
        introspection as an oracle for tokens it picked up elsewhere (RFC 7662 section 4)."""
        try:
            form = parse_form(await request.body())
            caller = self._client(request, form, allow_public=False)
            token = form.get("token")
            if not token:
                raise InvalidRequest("token is required")
        except OAuthError as exc:
            return exc.response()
        body = self._introspect(token, caller)
        if body is None:
            return Response(INACTIVE, media_type="application/json", headers=NO_STORE)
        return json_response(body, headers=NO_STORE)

    def _introspect(self, token: str, caller: ClientRecord) -> dict[str, Any] | None:
        services = self.services
        record = services.access_token(token)
        if record is not None:
            if record.client_id != caller.client_id and not caller.resource_server:
                return None
            return {
                "active": True, "scope": record.scope, "client_id": record.client_id, "sub": record.sub,
                "exp": record.expires_at, "iat": record.issued_at, "iss": services.config.issuer,
                "aud": services.config.token_audience, "jti": record.jti, "token_type": "Bearer",
            }
        refresh = services.flows.get_refresh(token) if len(token) <= 512 else None
        if refresh is None or refresh.used or refresh.revoked or refresh.expires_at <= time.time():
            return None
        if refresh.client_id != caller.client_id:  # a refresh token is its client's business alone
            return None
        return {
            "active": True, "scope": refresh.scope, "client_id": refresh.client_id, "sub": refresh.sub,
            "exp": refresh.expires_at, "iat": refresh.issued_at, "iss": services.config.issuer,
            "token_type": "refresh_token",
        }

    async def revoke(self, request: Request) -> Response:
        """RFC 7009: 200 whether or not the token was known (or someone else's: then it stays valid)."""
        try:
            form = parse_form(await request.body())
            client = self._client(request, form, allow_public=True)
            token = form.get("token")
            if not token:
                raise InvalidRequest("token is required")
        except OAuthError as exc:
            return exc.response()
        services = self.services
        refresh = services.flows.get_refresh(token) if len(token) <= 512 else None
        if refresh is not None and refresh.client_id == client.client_id:
            services.flows.revoke_family(refresh.family)
            services.audit.emit("token_revoked", client_id=client.client_id, family=refresh.family, kind="refresh")
        else:
            jti = bearer.verified_jti(services.keys, token)
            record = services.store.get_token(jti) if jti else None
            if record is not None and record.client_id == client.client_id:
                services.store.revoke_token(record.jti)
                services.audit.emit("token_revoked", client_id=client.client_id, jti=record.jti, kind="access")
        return Response(b"", status_code=200, headers=NO_STORE)

    async def end_session(self, request: Request) -> Response:
        """OIDC RP-Initiated Logout 1.0: id_token_hint, client_id, post_logout_redirect_uri, state. A redirect
        only with a valid id_token_hint (one of our ID tokens; expired is fine, section 2) whose client, its
        `aud`, registered that URI: without the hint anyone could send users through our logout to any URI
        some client registered. A refused redirect is a 400 page and signs nobody out.

        What it ends: the session of this browser's cookie and the session the hint's `sid` names (so a
        relying party's server, holding no cookie, can end the user's session too), and with them the tokens
        of every login made in those sessions, except logins granted offline_access (OIDC Core 11). The
        discovery document says so in `end_session_token_policy`."""
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").partition(";")[0].strip().lower()
            try:
                params = parse_form(await request.body()) if ctype == FORM else {}
            except OAuthError:
                return _logout_page("Bad request", 400)
        else:
            params = dict(request.query_params)
        if any(len(v) > 8192 for v in params.values()):
            return _logout_page("Bad request", 400)
        client_id = params.get("client_id")
        hint = params.get("id_token_hint")
        hint_sid: object = None
        if hint:
            claims = bearer.verified_claims(self.services.keys, hint, typ=bearer.ID_TOKEN_TYP)
            aud = None if claims is None else claims.get("aud")
            if claims is None or claims.get("iss") != self.services.config.issuer or not isinstance(aud, str):
                return _logout_page("The id_token_hint is not valid.", 400)
            if client_id and client_id != aud:
                return _logout_page("client_id does not match the id_token_hint.", 400)
            client_id, hint_sid = aud, claims.get("sid")
        redirect = params.get("post_logout_redirect_uri")
        if redirect and not hint:
            return _logout_page("post_logout_redirect_uri needs an id_token_hint.", 400)
        client = self.services.store.get_client(client_id) if client_id and len(client_id) <= 256 else None
        if redirect and (client is None or not redirect_allowed(redirect, client.redirect_uris)):
            return _logout_page("post_logout_redirect_uri is not registered for this client.", 400)
        response: Response
        if redirect:
            query = {"state": params["state"]} if "state" in params else {}
            sep = "&" if "?" in redirect else "?"
            target = redirect + (sep + urlencode(query) if query else "")
            response = RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store"})
        else:
            response = _logout_page("You are signed out.", 200)
        session = self.browser.end_session_cookie(request, response)
        sids = {sid for sid in (hint_sid, session.sid if session else None) if isinstance(sid, str) and sid}
        revoked = sum(self.services.flows.end_login_session(sid) for sid in sids)
        self.services.audit.emit("logout", client_id=client_id, sub=session.sub if session else None, face="oidc",
                                 sessions=len(sids), tokens_revoked=revoked)
        return response


def _bearer_error(status: int, error: str | None) -> Response:
    challenge = 'Bearer realm="harness-target"' + (f', error="{error}"' if error else "")
    body = json_bytes({"error": error}) if error else b""
    return Response(body, status_code=status, media_type="application/json",
                    headers={**NO_STORE, "WWW-Authenticate": challenge})


def _logout_page(message: str, status: int) -> Response:
    doc = f"<!doctype html><html><head><title>Sign out</title></head><body><p>{html.escape(message)}</p></body></html>"
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})

