"""Where things are: the logical endpoint names a scenario may target, where they live on the embedded
SSO target, and what counts as loopback (the blast-radius rule every package applies).

A fault names `endpoint: token` rather than a path so that the same scenario reads the same against any
provider; for an external provider the OIDC paths come from its discovery document instead of this
table. Both faces of the embedded target share one listener: `/token` and `/device_authorization` take
a form body on the OIDC face and a JSON body on the AWS face (botocore's sso-oidc), and the AWS portal
(botocore's sso) owns `/federation/...`, `/assignment/...` and `POST /logout`, so OIDC's RP-initiated
logout is `/end_session`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal, get_args

EndpointName = Literal[
    "discovery", "jwks", "authorize", "login", "token", "device_authorization", "device_verification",
    "userinfo", "introspection", "revocation", "end_session", "register_client", "role_credentials",
    "list_accounts", "list_account_roles", "logout", "health",
]  # fmt: skip
ENDPOINT_NAMES: tuple[EndpointName, ...] = get_args(EndpointName)

EMBEDDED_PATHS: dict[str, str] = {
    # OIDC face (and the AWS sso-oidc operations that share a path)
    "discovery": "/.well-known/openid-configuration",
    "jwks": "/.well-known/jwks.json",
    "authorize": "/authorize",  # OIDC authorization endpoint; also `aws sso login`'s PKCE entry
    "login": "/login",  # the sign-in form behind /authorize
    "token": "/token",  # OIDC token endpoint (form) and AWS CreateToken (JSON)
    "device_authorization": "/device_authorization",  # RFC 8628 (form) and StartDeviceAuthorization (JSON)
    "device_verification": "/device",  # the page where a user enters or confirms a user code
    "userinfo": "/userinfo",
    "introspection": "/introspect",  # RFC 7662
    "revocation": "/revoke",  # RFC 7009
    "end_session": "/end_session",  # RP-initiated logout
    # AWS sso-oidc only
    "register_client": "/client/register",  # RegisterClient
    # AWS portal (botocore service "sso")
    "role_credentials": "/federation/credentials",  # GetRoleCredentials
    "list_accounts": "/assignment/accounts",  # ListAccounts
    "list_account_roles": "/assignment/roles",  # ListAccountRoles
    "logout": "/logout",  # portal Logout (POST)
    # the service itself
    "health": "/healthz",
}

# The embedded target's chaos control API (admin only; routes and JSON in harness/idp/chaosapi.py). Not
# an endpoint name: a scenario cannot aim faults at it.
CHAOS_API_PATH = "/chaos"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: where load and faults may go without being listed in `allow`."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
