"""The pages a person (or a load client acting as one) uses: the authorization endpoint with its sign-in
form, and the device verification page. Plain HTML forms, no JavaScript; a headless client drives them
with ordinary form POSTs (application/x-www-form-urlencoded).

`GET|POST /authorize` (RFC 6749 4.1.1, OIDC Core 3.1.2.1, RFC 7636): query (or form) parameters
    response_type=code, client_id, redirect_uri, scope (or `scopes`, as `aws sso login` sends it), state,
    nonce, code_challenge, code_challenge_method=S256 (PKCE is required), prompt (space separated:
    `login`, `consent`, or `none` alone). A bad client_id or redirect_uri answers 400 (never a redirect);
    other errors redirect with `error`, `error_description`, `state`, `iss`, but only to a URI we trust
    unasked (a first-party client's, or a loopback one): a self-registered client's https URI gets a 400
    page instead, so that nobody can register a client to make us an open redirector (RFC 9700 4.11.2).
    With a live session cookie a first-party client gets the code at once (302); a third-party client
    (self-registered), or any client asking `prompt=consent`, gets the consent screen first (200); without
    a session, the sign-in form (200). `prompt=none` never shows a page: login_required or
    consent_required instead (as errors above).
`POST /authorize` with `consent_ticket` and `approve` = `yes` | `no`: the answer to a consent screen. The
    ticket is single use, lives `consent_ttl_s`, and works only with the session cookie of the browser it
    was shown to (so a forged cross-site post, or a ticket copied to another browser, gets a 400 page).
    Yes: 302 with the code; no: 302 with error=access_denied.
`POST /login`: fields `username`, `password`, plus every authorize parameter above as hidden fields
    copied from the form (a client may also post them directly without fetching the form). Success: a
    `harness_session` cookie and 302 to `redirect_uri?code=...&state=...&iss=...` (or the consent screen,
    as above). Wrong credentials: 401 with the form again. Without authorize parameters a successful
    sign-in answers 200 and only sets the session. `GET /login` renders the same form.
`GET /device?user_code=XXXX-XXXX`: the verification page (`verification_uri_complete` points here).
`POST /device`: fields `user_code`, `username`, `password` (both optional with a live session cookie)
    and `approve` = `yes` (approve) or `no` (deny). 200 on success; 400, with one and the same message,
    for an unknown, expired or already decided code and for wrong credentials (no oracle for which codes
    exist); 429 + Retry-After once a client address has failed too often (`user_code_attempts_*`).
The sign-in and device forms carry no CSRF token: a forged post there needs the user's password anyway,
and the load clients then need no HTML parsing. The consent form does (its ticket): approving is the one
step a cross-site attacker could otherwise forge for a signed-in user. Passwords follow
contract.seeded_password.
"""

from __future__ import annotations

import html
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from harness.endpoints import EMBEDDED_PATHS
from harness.idp import directory
from harness.idp.audit import code_ref
from harness.idp.flowstore import AuthCode, normalize_user_code
from harness.idp.forms import parse_form
from harness.idp.grants import granted_scope
from harness.idp.oauth import OAuthError
from harness.idp.passwords import password_matches
from harness.idp.redirects import is_loopback, redirect_allowed
from harness.idp.services import Services

SESSION_COOKIE = "harness_session"
AUTHORIZE_PARAMS = (
    "response_type", "client_id", "redirect_uri", "scope", "scopes", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt",
)
MAX_PARAM_LEN = 2048
CODE_CHALLENGE_LEN = 43  # base64url of a SHA-256 digest
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'none'"}
APPROVE = frozenset({"yes", "true", "1", "approve", "on"})
DENY = frozenset({"no", "false", "0", "deny"})
PROMPTS = frozenset({"none", "login", "consent"})
# One answer for an unknown, expired or decided code and for wrong credentials (RFC 8628 section 5.1).
DEVICE_REFUSED = "That code and sign-in did not work: check both and try again."


class PageError(Exception):
    """Shown to the user, never redirected (RFC 6749 4.1.2.1: bad client or redirect URI)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class RedirectError(Exception):
    """An error for the client at its redirect URI, when we trust that URI enough to send the user there
    unasked (`trusted`); otherwise it is shown as a page (RFC 9700 section 4.11.2: no open redirector)."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None, *, trusted: bool):
        super().__init__(description)
        self.error, self.description, self.redirect_uri, self.state = error, description, redirect_uri, state
        self.trusted = trusted


@dataclass(frozen=True)
class AuthzRequest:
    params: dict[str, str]
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    prompt: frozenset[str]
    client_name: str
    first_party: bool
    trusted_redirect: bool

    @property
    def needs_consent(self) -> bool:
        return not self.first_party or "consent" in self.prompt

    def error(self, error: str, description: str) -> RedirectError:
        return RedirectError(error, description, self.redirect_uri, self.state, trusted=self.trusted_redirect)


@dataclass(frozen=True)
class BrowserSession:
    cookie: str  # the secret the browser holds
    sub: str
    auth_time: int
    sid: str | None  # public id: the ID tokens' `sid`, how logout finds the session without its cookie


class BrowserFace:
    def __init__(self, services: Services):
        self.services = services

    # -- /authorize and /login ---------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                form = await _form(request)
                if "consent_ticket" in form:
                    return self._consent_answer(request, form)
                params = {k: v for k, v in form.items() if k in AUTHORIZE_PARAMS}
            else:
                params = {k: v for k, v in request.query_params.items() if k in AUTHORIZE_PARAMS}
            authz = self._validate(params)
            session = self._session(request)
            if "none" in authz.prompt:  # OIDC Core 3.1.2.1: never show a page
                if session is None:
                    raise authz.error("login_required", "no session")
                if authz.needs_consent:
                    raise authz.error("consent_required", "this client needs the user's consent")
            if session is None or "login" in authz.prompt:
                return self._login_page(authz.params)
            if authz.needs_consent:
                return self._consent_page(authz, session.cookie)
            return self._issue_code(authz, session)
        except PageError as exc:
            return _page("Error", f"<p>{html.escape(exc.message)}</p>", status=exc.status)
        except RedirectError as exc:
            return self._error_redirect(exc)

    async def login_form(self, request: Request) -> Response:
        try:
            params = {k: v for k, v in request.query_params.items() if k in AUTHORIZE_PARAMS}
            if params:
                self._validate(params)
            return self._login_page(params)
        except PageError as exc:
            return _page("Error", f"<p>{html.escape(exc.message)}</p>", status=exc.status)
        except RedirectError as exc:
            return self._error_redirect(exc)

    async def login(self, request: Request) -> Response:
        try:
            form = await _form(request)
            params = {k: v for k, v in form.items() if k in AUTHORIZE_PARAMS}
            authz = self._validate(params) if params else None
            user = self._check_password(form.get("username", ""), form.get("password", ""))
            if user is None:
                return self._login_page(params, error="Invalid username or password.", status=401)
            auth_time = int(time.time())
            session = self._new_session(user.sub, auth_time)
            response: Response
            if authz is None:
                response = _page("Signed in", f"<p>Signed in as {html.escape(user.username)}.</p>")
            elif authz.needs_consent:
                response = self._consent_page(authz, session.cookie)
            else:
                response = self._issue_code(authz, session)
            self._set_session_cookie(response, session.cookie)
            return response
        except PageError as exc:
            return _page("Error", f"<p>{html.escape(exc.message)}</p>", status=exc.status)
        except RedirectError as exc:
            return self._error_redirect(exc)

    def _validate(self, params: dict[str, str]) -> AuthzRequest:
        if any(len(v) > MAX_PARAM_LEN for v in params.values()):
            raise PageError("a parameter is too long")
        client_id = params.get("client_id", "")
        client = self.services.store.get_client(client_id) if 0 < len(client_id) <= 256 else None
        if client is None or client.secret_expired(time.time()):
            raise PageError("unknown client_id")  # a lapsed registration is no client any more
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_allowed(redirect_uri, client.redirect_uris):
            raise PageError("redirect_uri is not registered for this client")
        state = params.get("state")
        # Only a URI the operator configured, or one on the user's own machine (RFC 8252 native apps, such as
        # the AWS CLI), is trusted with errors before the user has seen who asks: anyone can register a client
        # with an https URI of their choosing.
        trusted = client.first_party or is_loopback(redirect_uri)

        def fail(error: str, description: str) -> RedirectError:
            return RedirectError(error, description, redirect_uri, state, trusted=trusted)

        if params.get("response_type") != "code":
            raise fail("unsupported_response_type", "response_type must be code")
        if "authorization_code" not in client.grant_types:
            raise fail("unauthorized_client", "this client may not use the authorization_code grant")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or len(challenge) != CODE_CHALLENGE_LEN:
            raise fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
        try:
            scope = granted_scope(params.get("scope") or params.get("scopes"), client.scopes)
        except OAuthError as exc:
            raise fail(exc.error, exc.description) from None
        prompt = frozenset(params.get("prompt", "").split())
        if not prompt <= PROMPTS or ("none" in prompt and len(prompt) > 1):
            raise fail("invalid_request", "prompt must be none, or any of login and consent")
        return AuthzRequest(params, client_id, redirect_uri, scope, state, params.get("nonce"), challenge, prompt,
                            client.client_name or client_id, client.first_party, trusted)

    def _issue_code(self, authz: AuthzRequest, session: BrowserSession) -> Response:
        code = secrets.token_urlsafe(32)
        config = self.services.config
        self.services.flows.add_code(
            code,
            AuthCode(
                authz.client_id, authz.redirect_uri, session.sub, authz.scope, authz.nonce, authz.code_challenge,
                session.auth_time, int(time.time()) + config.auth_code_ttl_s, False, secrets.token_urlsafe(12),
                session.sid,
            ),
        )
        self.services.audit.emit("code_issued", client_id=authz.client_id, sub=session.sub, scope=authz.scope)
        query = {"code": code, **({"state": authz.state} if authz.state is not None else {}), "iss": config.issuer}
        return _redirect(authz.redirect_uri, query)

    # -- consent -----------------------------------------------------------------------------------------

    def _consent_page(self, authz: AuthzRequest, session_cookie: str) -> Response:
        """Who asks, for what, and where the answer goes; the form's ticket binds it to this browser."""
        ticket = secrets.token_urlsafe(32)
        self.services.flows.add_consent(
            ticket, session_id=session_cookie, request_json=json.dumps(authz.params),
            expires_at=int(time.time()) + self.services.config.consent_ttl_s,
        )
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in authz.scope.split())
        destination = urlsplit(authz.redirect_uri)
        body = (
            f"<p><strong>{html.escape(authz.client_name)}</strong> (client {html.escape(authz.client_id)}) asks"
            f" to sign you in and to use:</p><ul>{scopes}</ul>"
            f"<p>Your answer is sent to {html.escape(destination.scheme)}://{html.escape(destination.netloc)}.</p>"
            f'<form method="post" action="{EMBEDDED_PATHS["authorize"]}">'
            f'<input type="hidden" name="consent_ticket" value="{html.escape(ticket)}">'
            '<button type="submit" name="approve" value="yes">Allow</button>'
            '<button type="submit" name="approve" value="no">Deny</button></form>'
        )
        return _page("Allow access?", body)

    def _consent_answer(self, request: Request, form: dict[str, str]) -> Response:
        decision = form.get("approve", "").lower()
        if decision not in APPROVE | DENY:
            raise PageError("Choose approve=yes or approve=no.")
        session = self._session(request)
        ticket = form.get("consent_ticket", "")
        raw = None
        if session is not None and 0 < len(ticket) <= 128:
            raw = self.services.flows.take_consent(ticket, session_id=session.cookie, now=time.time())
        if session is None or raw is None:
            raise PageError("This consent request is no longer valid; start signing in again.")
        authz = self._validate(json.loads(raw))  # again: the client may have lapsed meanwhile
        if decision in DENY:
            self.services.audit.emit("consent_denied", client_id=authz.client_id, sub=session.sub)
            # the user saw the client and where the answer goes, so the redirect is theirs to take
            return self._error_redirect(RedirectError("access_denied", "the user denied the request",
                                                      authz.redirect_uri, authz.state, trusted=True))
        self.services.audit.emit("consent_given", client_id=authz.client_id, sub=session.sub, scope=authz.scope)
        return self._issue_code(authz, session)

    def _error_redirect(self, exc: RedirectError) -> Response:
        if not exc.trusted:
            message = f"The request was refused ({exc.error}): {exc.description}."
            return _page("Error", f"<p>{html.escape(message)}</p>", status=400)
        query = {"error": exc.error, "error_description": exc.description, "iss": self.services.config.issuer}
        if exc.state is not None:
            query["state"] = exc.state
        return _redirect(exc.redirect_uri, query)

    def _login_page(self, params: Mapping[str, str], *, error: str = "", status: int = 200) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        message = f'<p class="error">{html.escape(error)}</p>' if error else ""
        body = (
            f'{message}<form method="post" action="{EMBEDDED_PATHS["login"]}">{hidden}'
            '<label>Username <input name="username" autocomplete="username"></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password"></label>'
            '<button type="submit">Sign in</button></form>'
        )
        return _page("Sign in", body, status=status)

    # -- /device -----------------------------------------------------------------------------------------

    async def device_page(self, request: Request) -> Response:
        user_code = normalize_user_code(request.query_params.get("user_code", "")[:32])
        return self._device_form(user_code)

    async def device_submit(self, request: Request) -> Response:
        try:
            form = await _form(request)
        except PageError as exc:
            return _page("Error", f"<p>{html.escape(exc.message)}</p>", status=exc.status)
        user_code = normalize_user_code(form.get("user_code", "")[:32])
        decision = form.get("approve", "").lower()
        if decision not in APPROVE | DENY:
            return self._device_form(user_code, error="Choose approve=yes or approve=no.", status=400)
        # RFC 8628 section 5.1: guessing user codes must not pay. Failures are counted per client address and
        # refused once over the limit; every failure looks the same (no oracle for which codes exist); and
        # the password is checked whether or not the code exists, so the time taken says nothing either.
        address = request.client.host if request.client is not None else "unknown"
        wait_s = self.services.user_code_attempts.retry_after_s(address)
        if wait_s is not None:
            self.services.audit.emit("user_code_throttled", address=address)
            response = self._device_form(user_code, error="Too many attempts; try again later.", status=429)
            response.headers["Retry-After"] = str(wait_s)
            return response
        record = self.services.flows.get_by_user_code(user_code) if user_code else None
        session = self._session(request)
        if form.get("username") or session is None:
            user = self._check_password(form.get("username", ""), form.get("password", ""))
            sub, auth_time = (user.sub, int(time.time())) if user is not None else ("", 0)
        else:
            sub, auth_time = session.sub, session.auth_time
        if record is None or not sub:
            self.services.user_code_attempts.charge(address)
        if record is None or not sub or record.expires_at <= time.time():
            return self._device_form(user_code, error=DEVICE_REFUSED, status=400)
        approve = decision in APPROVE
        if not self.services.flows.decide_device(user_code, sub=sub, approve=approve, auth_time=auth_time):
            return self._device_form(user_code, error=DEVICE_REFUSED, status=400)  # decided already
        self.services.audit.emit(
            "device_approved" if approve else "device_denied", client_id=record.client_id, sub=sub,
            user_code_sha256=code_ref(user_code),
        )
        response = _page("Done", "<p>Device approved. You may close this window.</p>" if approve
                         else "<p>Request denied.</p>")
        if session is None:
            self._set_session_cookie(response, self._new_session(sub, auth_time).cookie)
        return response

    def _device_form(self, user_code: str, *, error: str = "", status: int = 200) -> Response:
        message = f'<p class="error">{html.escape(error)}</p>' if error else ""
        body = (
            f'{message}<form method="post" action="{EMBEDDED_PATHS["device_verification"]}">'
            f'<label>Code <input name="user_code" value="{html.escape(user_code)}"></label>'
            '<label>Username <input name="username" autocomplete="username"></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password"></label>'
            '<button type="submit" name="approve" value="yes">Approve</button>'
            '<button type="submit" name="approve" value="no">Deny</button></form>'
        )
        return _page("Device sign-in", body, status=status)

    # -- users and sessions ------------------------------------------------------------------------------

    def _check_password(self, username: str, password: str) -> directory.User | None:
        user = directory.get_user(self.services.store, username[:128]) if username else None
        ok = password_matches(password[:1024], user.password_hash if user else None)
        self.services.audit.emit("login" if ok else "login_failed", username=username[:128])
        return user if ok else None

    def _session(self, request: Request) -> BrowserSession | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw or len(raw) > 128:
            return None
        found = self.services.flows.get_session(raw, time.time())
        return None if found is None else BrowserSession(raw, *found)

    def _new_session(self, sub: str, auth_time: int) -> BrowserSession:
        """Store a session; its cookie goes to `_set_session_cookie`."""
        cookie, sid = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        ttl_s = self.services.config.session_ttl_s
        self.services.flows.add_session(cookie, sub=sub, auth_time=auth_time, expires_at=auth_time + ttl_s, sid=sid)
        return BrowserSession(cookie, sub, auth_time, sid)

    def _set_session_cookie(self, response: Response, cookie: str) -> None:
        response.set_cookie(
            SESSION_COOKIE, cookie, max_age=self.services.config.session_ttl_s, httponly=True, samesite="lax",
            secure=self.services.config.tls, path="/",
        )

    def current_session(self, request: Request) -> BrowserSession | None:
        return self._session(request)

    def end_session_cookie(self, request: Request, response: Response) -> BrowserSession | None:
        """Forget this browser's session (RP-initiated logout) and its cookie; the session, if any."""
        session = self._session(request)
        if session is not None:
            self.services.flows.end_session(session.cookie)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return session


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise PageError("forms must be application/x-www-form-urlencoded", status=415)
    try:
        return parse_form(await request.body())
    except OAuthError as exc:
        raise PageError(exc.description) from None


def _redirect(uri: str, query: Mapping[str, str]) -> Response:
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(uri + sep + urlencode(query), status_code=302, headers={"Cache-Control": "no-store"})


def _page(title: str, body: str, *, status: int = 200) -> Response:
    doc = (
        f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers=PAGE_HEADERS)
