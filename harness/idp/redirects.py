"""Redirect URI matching: exact string match, except that an http loopback URI matches on any port
(RFC 8252 section 7.3), which native apps such as `aws sso login` rely on."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "localhost"})
MAX_URI_LEN = 2048


def _loopback_key(uri: str) -> tuple[str, str, str, str] | None:
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    netloc_host = f"[{host}]" if ":" in host else host
    if parts.scheme != "http" or netloc_host not in LOOPBACK_HOSTS or parts.username or parts.password:
        return None
    return (parts.scheme, netloc_host, parts.path or "/", parts.query)


def is_loopback(uri: str) -> bool:
    """An http URI on this machine's loopback interface (RFC 8252 section 7.3)."""
    return _loopback_key(uri) is not None


def redirect_allowed(uri: str, registered: Iterable[str]) -> bool:
    if not uri or len(uri) > MAX_URI_LEN or "#" in uri:
        return False
    candidate = _loopback_key(uri)
    for allowed in registered:
        if uri == allowed:
            return True
        if candidate is not None and candidate == _loopback_key(allowed):
            return True
    return False


def valid_redirect_uri(uri: str) -> bool:
    """Acceptable to register: absolute https, or http on loopback; no fragment."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LEN or "#" in uri:
        return False
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    if parts.scheme == "https" and parts.hostname:
        return True
    return _loopback_key(uri) is not None
