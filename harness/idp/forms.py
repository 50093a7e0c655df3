"""Parsing application/x-www-form-urlencoded bodies, for the token endpoint and the browser pages."""

from __future__ import annotations

from urllib.parse import parse_qsl

from harness.idp.oauth import InvalidRequest

MAX_FORM_BYTES = 16 * 1024


def parse_form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict; a repeated parameter is an error (RFC 6749
    section 3.2 "parameters MUST NOT be included more than once")."""
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("request body too large")
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("malformed form body") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise InvalidRequest(f"parameter {key[:64]!r} repeated")
        form[key] = value
    return form
