"""Every exchange ends in exactly one outcome (harness.scenario.model.Outcome), most specific first."""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import Iterator

import requests
import urllib3.exceptions

from harness.contract import Outcome


def classify_status(status: int) -> Outcome:
    if 200 <= status < 400:
        return "ok"
    if status == 429:
        return "http_429"
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return "protocol_error"


# What the fault proxy answers (502) when the provider's certificate did not verify on its hop (harness.proxy.tls)
PROXY_ERROR_HEADER = "X-Harness-Proxy-Error"
PROXY_TLS_ERROR = "upstream-tls"


def classify_response(response: requests.Response) -> Outcome:
    """An answer's outcome: by its status, unless our proxy says it stands for the provider's TLS failing."""
    status = response.status_code
    if status == 502 and response.headers.get(PROXY_ERROR_HEADER) == PROXY_TLS_ERROR:
        return "tls_error"
    return classify_status(status)


_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


def classify_exception(exc: BaseException) -> Outcome:
    """Map what requests/urllib3 raise onto an outcome. Order matters: requests wraps urllib3 wraps OS errors,
    and e.g. a ConnectTimeout is both a Timeout and a ConnectionError."""
    if _tls_failure(exc):
        return "tls_error"  # a certificate or a handshake refused: not the network's doing, not retried by default
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect_error"  # nothing was sent: as safe to retry as a refused connection
    if isinstance(exc, requests.exceptions.Timeout | socket.timeout | TimeoutError):
        return "timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "reset" if _caused_by_reset(exc) else "protocol_error"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _caused_by_reset(exc):
            return "reset"
        if _caused_by(exc, urllib3.exceptions.ProtocolError) and not _caused_by(
            exc, urllib3.exceptions.NewConnectionError
        ):
            return "reset"  # "Connection aborted": the peer went away mid-exchange
        return "connect_error"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "reset"
    if isinstance(exc, requests.exceptions.RequestException | ValueError):
        # requests' exceptions are OSErrors, so they must be caught before the socket errors below:
        # what is left of them (bad JSON, too many redirects, bad URL) is not a network failure
        return "protocol_error"
    if isinstance(exc, OSError):
        return "connect_error"
    return "protocol_error"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException) and id(arg) not in seen:
                yield from _chain(arg)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            yield from _chain(reason)
        current = current.__cause__ or current.__context__


def _caused_by(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    return any(isinstance(e, kind) for e in _chain(exc))


def _tls_failure(exc: BaseException) -> bool:
    """A certificate that did not verify, or a TLS alert; a peer that just went away (EOF, RST) is not one."""
    if _caused_by(exc, ssl.SSLCertVerificationError):
        return True
    if _caused_by(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or _caused_by_reset(exc):
        return False
    return _caused_by(exc, ssl.SSLError)


def _caused_by_reset(exc: BaseException) -> bool:
    return any(
        isinstance(e, ConnectionResetError | BrokenPipeError | ConnectionAbortedError)
        or (isinstance(e, OSError) and e.errno in _RESET_ERRNOS)
        for e in _chain(exc)
    )


# AWS sso-oidc error shapes and the OAuth codes they carry (reference: aws-sso-wire.md section 2).
AWS_SHAPES: dict[str, str] = {
    "AuthorizationPendingException": "authorization_pending",
    "SlowDownException": "slow_down",
    "ExpiredTokenException": "expired_token",
    "AccessDeniedException": "access_denied",
    "InvalidGrantException": "invalid_grant",
    "InvalidClientException": "invalid_client",
    "UnauthorizedClientException": "unauthorized_client",
    "UnsupportedGrantTypeException": "unsupported_grant_type",
    "InvalidScopeException": "invalid_scope",
    "InvalidRequestException": "invalid_request",
    "InvalidClientMetadataException": "invalid_client_metadata",
    "InvalidRedirectUriException": "invalid_redirect_uri",
    "InternalServerException": "server_error",
    "UnauthorizedException": "unauthorized",  # portal
    "ResourceNotFoundException": "not_found",  # portal
    "TooManyRequestsException": "too_many_requests",  # portal
}
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,63}$")
_MAX_ERROR_BODY = 16_384


def error_code(response: requests.Response, *, aws: bool = False) -> str:
    """The protocol error code of an error response, or "" when it has none we trust.

    OAuth (RFC 6749 5.2): the body's `error`. AWS, as botocore reads it: header `x-amzn-ErrorType`, else
    body `code`, else `__type`, with `:suffix` and `namespace#` stripped; the OAuth `error` field is never
    used (a plain OAuth body makes the real CLI fail, so here it is no code at all). Known AWS shapes are
    normalised to their OAuth code so flows match one vocabulary. Only a short identifier is returned:
    it goes into records, and a description could echo anything."""
    body: object = None
    if len(response.content) <= _MAX_ERROR_BODY:
        try:
            body = response.json()
        except ValueError:
            body = None
    fields = body if isinstance(body, dict) else {}
    if aws:
        raw = response.headers.get("x-amzn-ErrorType") or fields.get("code") or fields.get("__type") or ""
        shape = str(raw).split(":", 1)[0].rsplit("#", 1)[-1]
        code = AWS_SHAPES.get(shape, shape)
    else:
        code = str(fields.get("error") or "")
    return code if _CODE.match(code) else ""
