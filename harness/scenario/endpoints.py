"""Logical endpoint names a scenario may target, and where they live on the embedded SSO target.

A fault names `endpoint: token` rather than a path so that the same scenario reads the same against any
provider; for an external provider the paths come from its discovery document instead of this table.
"""

from __future__ import annotations

# The AWS face's CreateToken is `POST /token` too, so "token" covers both faces.
EMBEDDED_PATHS: dict[str, str] = {
    "discovery": "/.well-known/openid-configuration",
    "jwks": "/.well-known/jwks.json",
    "token": "/token",
    "health": "/healthz",
}
ENDPOINT_NAMES: tuple[str, ...] = tuple(EMBEDDED_PATHS)
