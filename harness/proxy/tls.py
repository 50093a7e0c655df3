"""TLS on either hop of a proxy: two optional fields of a proxy in the API and in `--config`, beside
Toxiproxy's own (a client that does not know them never sees them: they are in a proxy's JSON only when
set).

    "listen_tls":   {"cert": "/path/leaf.pem", "key": "/path/leaf-key.pem"}
        the listener speaks TLS with this certificate (chain first); clients trust its CA
    "upstream_tls": {"server_name": "idp.test", "ca": "/path/ca-bundle.pem"}
        the proxy speaks TLS to the upstream: SNI and the name checked in its certificate are
        `server_name` (default: the upstream's host), trusted against `ca` (default: the system store)

Certificate verification towards the upstream is always on: there is no field to turn it off. What
passes between the two TLS sessions is plaintext, so HTTP toxics see requests as they are, and TCP
toxics act on the client's connection (a reset costs the client a new handshake, as in production).
The `Host` header is never touched. Contexts are built once per proxy, not per connection.

Where the native relay speaks TLS (harness.proxy.relay.TLS) and both hops are TLS, the sessions live in the
relay with the same settings (its own OpenSSL contexts from the same files, `native` below) and Python sees
each connection in plaintext; otherwise Python (uvloop) does TLS with `context`.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.proxy import apierrors as err
from harness.proxy.relay import native_context

# What the proxy answers a client with when the upstream's certificate does not verify (mitmproxy answers
# 502 too): the client records `tls_error` by this header, not a reset it could not tell from others.
TLS_ERROR_HEADER = "X-Harness-Proxy-Error"
TLS_ERROR_VALUE = "upstream-tls"


def _fields(body: Any, name: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise err.BAD_REQUEST_BODY(f"{name} must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise err.BAD_REQUEST_BODY(f"{name}: unknown field {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    return body


def _path(body: Mapping[str, Any], name: str, key: str, required: bool) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise err.MISSING_FIELD(f"{name}.{key}")
        return ""
    if not isinstance(value, str):
        raise err.BAD_REQUEST_BODY(f"{name}.{key} must be a file path")
    if not Path(value).is_file():
        raise err.BAD_REQUEST_BODY(f"{name}.{key}: no such file {value}")
    return value


@dataclass(frozen=True)
class ListenTls:
    cert: str
    key: str
    context: ssl.SSLContext = field(compare=False, repr=False)
    native: object | None = field(default=None, compare=False, repr=False)  # the relay's context, if it has TLS

    @classmethod
    def parse(cls, body: Any) -> ListenTls | None:
        if body is None:
            return None
        fields = _fields(body, "listen_tls", {"cert", "key"})
        cert = _path(fields, "listen_tls", "cert", True)
        key = _path(fields, "listen_tls", "key", True)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, OSError) as exc:
            raise err.BAD_REQUEST_BODY(f"listen_tls: cannot use {cert} with {key}: {exc}") from None
        return cls(cert, key, context, native_context(True, cert, key))

    def to_json(self) -> dict[str, str]:
        return {"cert": self.cert, "key": self.key}


@dataclass(frozen=True)
class UpstreamTls:
    server_name: str  # "" until bound to an upstream: then the upstream's host
    ca: str  # "" for the system store
    context: ssl.SSLContext = field(compare=False, repr=False)
    native: object | None = field(default=None, compare=False, repr=False)  # the relay's context, if it has TLS

    @classmethod
    def parse(cls, body: Any, upstream_host: str) -> UpstreamTls | None:
        if body is None:
            return None
        fields = _fields(body, "upstream_tls", {"server_name", "ca"})
        name = fields.get("server_name") or upstream_host
        if not isinstance(name, str):
            raise err.BAD_REQUEST_BODY("upstream_tls.server_name must be a host name")
        ca = _path(fields, "upstream_tls", "ca", False)
        try:
            context = ssl.create_default_context(cafile=ca or None)
        except (ssl.SSLError, OSError) as exc:
            raise err.BAD_REQUEST_BODY(f"upstream_tls.ca: cannot load {ca}: {exc}") from None
        return cls(name, ca, context, native_context(False, ca or None))

    def to_json(self) -> dict[str, str]:
        return {"server_name": self.server_name, **({"ca": self.ca} if self.ca else {})}


def is_certificate_error(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLCertVerificationError) or (
        isinstance(exc, ssl.SSLError) and "CERTIFICATE" in str(getattr(exc, "reason", "") or "")
    )


def tls_error_response(exc: BaseException) -> bytes:
    """The 502 a client gets instead of the upstream's answer when the upstream's certificate failed."""
    from harness.proxy.responses import render

    reason = getattr(exc, "verify_message", "") or getattr(exc, "reason", "") or type(exc).__name__
    body = json.dumps({"error": "upstream_tls_error", "error_description": str(reason)[:120]}).encode()
    return render(502, body, "application/json", [(TLS_ERROR_HEADER, TLS_ERROR_VALUE)], keep_alive=False,
                  fault="upstream_tls")  # fmt: skip
