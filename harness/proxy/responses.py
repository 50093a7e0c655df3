"""Responses the proxy writes itself instead of forwarding a request, and the presets for the SSO faces.

oauth  OAuth 2.0 error JSON (RFC 6749 5.2): {"error": "temporarily_unavailable", ...}
aws    what botocore parses as a modeled AWS error: header `x-amzn-ErrorType: <Code>` (it wins over
       every body field), body with `__type`, `message` and the OAuth `error`/`error_description`
       that sso-oidc's modeled exceptions carry
plain  the given body as text/plain
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Literal

Preset = Literal["oauth", "aws", "plain"]

_OAUTH_ERRORS = {400: "invalid_request", 429: "slow_down", 500: "server_error", 503: "temporarily_unavailable"}

# AWS error code -> (HTTP status AWS uses for it, OAuth `error` it carries)
AWS_ERRORS: dict[str, tuple[int, str]] = {
    "SlowDownException": (400, "slow_down"),
    "TooManyRequestsException": (429, "too_many_requests"),
    "InternalServerException": (500, "server_error"),
    "ServiceUnavailableException": (503, "temporarily_unavailable"),
}
_AWS_BY_STATUS = {400: "SlowDownException", 429: "TooManyRequestsException", 503: "InternalServerException"}

DESCRIPTION = "injected by harness proxy"


def error_code_for(status: int) -> str:
    """An OAuth-style `error` value for an injected status (RFC 6749 5.2 names where one fits)."""
    if status in _OAUTH_ERRORS:
        return _OAUTH_ERRORS[status]
    return "server_error" if status >= 500 else "invalid_request"


def aws_error_for(status: int) -> str:
    """The AWS error code a status stands for when none is given."""
    return _AWS_BY_STATUS.get(status, "InternalServerException" if status >= 500 else "SlowDownException")


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def render(
    status: int,
    body: bytes,
    content_type: str,
    headers: list[tuple[str, str]] | None = None,
    keep_alive: bool = True,
    fault: str = "http_error",
) -> bytes:
    """A whole HTTP/1.1 response with a Content-Length, so keep-alive clients read it exactly."""
    lines = [
        f"HTTP/1.1 {status} {reason_phrase(status)}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
    ]
    lines += [f"{name}: {value}" for name, value in headers or ()]
    if not keep_alive:
        lines.append("Connection: close")
    lines.append(f"X-Harness-Fault: {fault}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def error_body(
    status: int, preset: Preset = "oauth", aws_error: str = "", body: str | None = None
) -> tuple[bytes, str]:
    """(body, content type) of an injected error; `body` replaces the preset's body when given."""
    if preset == "plain":
        return (body or reason_phrase(status)).encode(), "text/plain; charset=utf-8"
    if body is not None:
        return body.encode(), "application/json"
    if preset == "aws":
        code = aws_error or aws_error_for(status)
        oauth = AWS_ERRORS.get(code, (status, error_code_for(status)))[1]
        data = {
            "__type": f"com.amazonaws.sso.oidc#{code}",
            "error": oauth,
            "error_description": DESCRIPTION,
            "message": DESCRIPTION,
        }
    else:
        data = {"error": error_code_for(status), "error_description": DESCRIPTION}
    return json.dumps(data).encode(), "application/json"


def error_headers(
    status: int,
    preset: Preset = "oauth",
    aws_error: str = "",
    retry_after_s: int = 0,
    extra: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if preset == "aws":
        headers.append(("x-amzn-ErrorType", aws_error or aws_error_for(status)))
    if retry_after_s > 0:
        headers.append(("Retry-After", str(retry_after_s)))
    headers += list((extra or {}).items())
    return headers
