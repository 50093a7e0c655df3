"""The AWS access portal face (botocore service `sso`): GetRoleCredentials, ListAccounts,
ListAccountRoles and Logout, authorized by an access token in the `x-amz-sso_bearer_token` header.

A user access token of this target granted the scope `sso:account:access` works (device flow or PKCE, on
either face, as AWS's own clients register for it); any other token is UnauthorizedException, as AWS
answers: a client_credentials token (it has no user), or a user's token for other scopes (an OIDC login's
`openid profile`), even one bearing our audience (bearer.py checks `aud` with the rest).
Pagination tokens are opaque to clients: base64 of an offset.
Role credentials look like AWS's (ASIA... key ids) and are random, never real.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from harness.idp import directory
from harness.idp.awserrors import (
    PortalError,
    PortalInvalidRequest,
    PortalNotFound,
    PortalTooManyRequests,
    PortalUnauthorized,
)
from harness.idp.oauth import NO_STORE, json_response
from harness.idp.services import Services
from harness.idp.store import TokenRecord

TOKEN_HEADER = "x-amz-sso_bearer_token"
PORTAL_SCOPE = "sso:account:access"
# ASCII only: \d and \w also match other scripts' digits and letters (re.ASCII below)
ACCOUNT_ID = re.compile(r"[0-9]{12}")
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
MAX_RESULT = re.compile(r"[0-9]{1,3}")
NEXT_OFFSET = re.compile(r"o:([0-9]{1,9})")  # far beyond any directory, far below SQLite's int64
DEFAULT_PAGE = 20
_KEY_ALPHABET = string.ascii_uppercase + "234567"


class PortalFace:
    def __init__(self, services: Services):
        self.services = services

    async def get_role_credentials(self, request: Request) -> Response:
        try:
            token = self._authorize(request)
            account_id = _account_id(request)
            role_name = request.query_params.get("role_name") or ""
            if not ROLE_NAME.fullmatch(role_name):
                raise PortalInvalidRequest("role_name is required and must be a role name")
            if not directory.role_exists(self.services.store, account_id, role_name):
                raise PortalNotFound("No access")
            ttl_s = self.services.config.role_credentials_ttl_s
            expiration_ms = int((time.time() + ttl_s) * 1000)
            credentials = {
                "accessKeyId": "ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
                "secretAccessKey": secrets.token_urlsafe(30)[:40],
                "sessionToken": "harness-session/" + secrets.token_urlsafe(96),
                "expiration": expiration_ms,
            }
            self.services.audit.emit(
                "credentials_fetched", client_id=token.client_id, sub=token.sub, jti=token.jti,
                account_id=account_id, role_name=role_name,
            )
            return json_response({"roleCredentials": credentials}, headers=NO_STORE)
        except PortalError as exc:
            return exc.response()

    async def list_accounts(self, request: Request) -> Response:
        try:
            self._authorize(request)
            offset, limit = _page(request)
            rows = directory.accounts_page(self.services.store, offset, limit + 1)
            body: dict[str, Any] = {
                "accountList": [
                    {"accountId": a.account_id, "accountName": a.name, "emailAddress": a.email} for a in rows[:limit]
                ]
            }
            if len(rows) > limit:
                body["nextToken"] = _next_token(offset + limit)
            return json_response(body, headers=NO_STORE)
        except PortalError as exc:
            return exc.response()

    async def list_account_roles(self, request: Request) -> Response:
        try:
            self._authorize(request)
            account_id = _account_id(request)
            offset, limit = _page(request)
            if not directory.account_exists(self.services.store, account_id):
                raise PortalNotFound("No access")
            rows = directory.roles_page(self.services.store, account_id, offset, limit + 1)
            body: dict[str, Any] = {"roleList": [{"roleName": r, "accountId": account_id} for r in rows[:limit]]}
            if len(rows) > limit:
                body["nextToken"] = _next_token(offset + limit)
            return json_response(body, headers=NO_STORE)
        except PortalError as exc:
            return exc.response()

    async def logout(self, request: Request) -> Response:
        try:
            token = self._authorize(request)
        except PortalError as exc:
            return exc.response()
        if token.family is not None:
            self.services.flows.revoke_family(token.family)
        self.services.store.revoke_token(token.jti)
        self.services.audit.emit("logout", client_id=token.client_id, sub=token.sub, jti=token.jti, face="aws")
        return Response(b"", status_code=200, headers={"Cache-Control": "no-store"})

    def _authorize(self, request: Request) -> TokenRecord:
        raw = request.headers.get(TOKEN_HEADER)
        if not raw:
            raise PortalUnauthorized("Session token not found or invalid")
        record = self.services.access_token(raw)
        if record is None or record.family is None or PORTAL_SCOPE not in record.scope.split():
            self.services.audit.emit("token_rejected", face="aws", endpoint=request.url.path)
            raise PortalUnauthorized("Session token not found or invalid")
        retry_after = self.services.retry_after_s(record.client_id)
        if retry_after is not None:
            raise PortalTooManyRequests("Too many requests", retry_after_s=retry_after)
        return record


def _account_id(request: Request) -> str:
    account_id = request.query_params.get("account_id") or ""
    if not ACCOUNT_ID.fullmatch(account_id):
        raise PortalInvalidRequest("account_id is required and must be 12 digits")
    return account_id


def _page(request: Request) -> tuple[int, int]:
    raw_limit = request.query_params.get("max_result")
    limit = DEFAULT_PAGE
    if raw_limit is not None:
        if not MAX_RESULT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= 100:
            raise PortalInvalidRequest("max_result must be an integer 1..100")
        limit = int(raw_limit)
    raw_next = request.query_params.get("next_token")
    offset = 0
    if raw_next:
        try:
            decoded = base64.urlsafe_b64decode(raw_next.encode("ascii") + b"==").decode("ascii")
            match = NEXT_OFFSET.fullmatch(decoded)
            if match is None:
                raise ValueError(decoded)
            offset = int(match[1])
        except (ValueError, binascii.Error, UnicodeError):
            raise PortalInvalidRequest("next_token is not valid") from None
    return offset, limit


def _next_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode("ascii")).rstrip(b"=").decode("ascii")
