"""`aws_device_login`: the AWS IAM Identity Center login as the AWS CLI drives it (aws-sso-wire.md
section 6): RegisterClient (kept while its secret is valid), StartDeviceAuthorization, approval by a
browser, CreateToken polling (pending, slow_down +5 s), ListAccounts (paginated), ListAccountRoles,
GetRoleCredentials, Logout. Errors are read in AWS form only (x-amzn-ErrorType, `code`, `__type`): a
plain OAuth error body is what makes the real CLI fail, so it is a protocol error here too."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from harness.clients.caller import OperationResult
from harness.clients.flows.device_authorization import DEVICE_CODE_GRANT, POLL_ANSWERS, DeviceAuthorizationFlow
from harness.clients.oauth import aws_token_problem, json_object, requires

BEARER_HEADER = "x-amz-sso_bearer_token"
MAX_PAGES = 5
REFRESH_WINDOW_S = 900  # botocore's SSOTokenProvider refreshes 15 minutes before expiry


class AwsDeviceLoginFlow(DeviceAuthorizationFlow):
    name: ClassVar[str] = "aws_device_login"
    registration: dict[str, Any] | None = None
    session: dict[str, Any] | None = None  # accessToken, refreshToken, expires_at, account_id, role_name

    def register(self) -> dict[str, Any] | None:
        reg = self.registration
        if reg is not None and reg.get("clientSecretExpiresAt", 0) - time.time() > REFRESH_WINDOW_S:
            return reg
        result = self.aws_call("register", "POST", "register_client", validate=requires("clientId", "clientSecret"),
                               json={"clientName": f"harness-{self.ctx.caller.user}", "clientType": "public",
                                     "scopes": ["sso:account:access"],
                                     "grantTypes": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]})
        self.registration = result.json() if result is not None and result.ok else None
        return self.registration

    def login(self) -> dict[str, Any] | None:
        reg = self.register()
        if reg is None:
            return None
        creds = {"clientId": reg["clientId"], "clientSecret": reg["clientSecret"]}
        start = self.aws_call("device_authorization", "POST", "device_authorization",
                              validate=requires("deviceCode", "userCode", "verificationUri", "expiresIn"),
                              json={**creds, "startUrl": self.ctx.aws_start_url})
        auth = start.json() if start is not None and start.ok else None
        if not isinstance(auth, dict):
            return None
        poll_body = {**creds, "grantType": DEVICE_CODE_GRANT, "deviceCode": auth["deviceCode"]}

        def poll_once() -> OperationResult:
            result = self.aws_call("poll", "POST", "token", validate=aws_token_problem, errors=POLL_ANSWERS,
                                   decides_journey=False, json=poll_body)
            assert result is not None
            return result

        uri = auth.get("verificationUriComplete") or f"{auth['verificationUri']}?user_code={auth['userCode']}"
        token = self.poll(poll_once, auth.get("interval"), auth.get("expiresIn"), str(uri))
        body = token.json() if token is not None else None
        if not isinstance(body, dict):
            return None
        return {"accessToken": body["accessToken"], "refreshToken": body.get("refreshToken"),
                "expires_at": time.time() + body["expiresIn"]}

    def portal(self, step: str, endpoint: str, session: dict[str, Any], method: str = "GET",
               **kwargs: Any) -> OperationResult | None:
        return self.aws_call(step, method, endpoint, headers={BEARER_HEADER: session["accessToken"]}, **kwargs)

    def pick_role(self, session: dict[str, Any]) -> bool:
        params: dict[str, Any] = {"max_result": 100}
        account_id = None
        for _ in range(MAX_PAGES):
            result = self.portal("list_accounts", "list_accounts", session, validate=requires("accountList"),
                                 params=params)
            body = result.json() if result is not None and result.ok else None
            if not isinstance(body, dict):
                return False
            accounts = body["accountList"]
            if account_id is None and accounts and isinstance(accounts[0], dict):
                account_id = accounts[0].get("accountId")
            if not body.get("nextToken"):
                break
            params = {"max_result": 100, "next_token": body["nextToken"]}
        if account_id is None:
            self.fail()  # a user with no account assignment cannot get credentials
            return False
        result = self.portal("list_account_roles", "list_account_roles", session, validate=requires("roleList"),
                             params={"account_id": account_id, "max_result": 100})
        roles = (json_object(result.response) or {}).get("roleList") if result and result.ok and result.response \
            else None
        if not roles or not isinstance(roles[0], dict) or "roleName" not in roles[0]:
            self.fail()
            return False
        session["account_id"], session["role_name"] = account_id, roles[0]["roleName"]
        return True

    def role_credentials(self, session: dict[str, Any]) -> bool:
        result = self.portal("role_credentials", "role_credentials", session, validate=requires("roleCredentials"),
                             params={"account_id": session["account_id"], "role_name": session["role_name"]})
        return result is not None and result.ok

    def steps(self) -> None:
        session = self.login()
        if session is None or not self.pick_role(session) or not self.role_credentials(session):
            return
        self.portal("logout", "logout", session, method="POST", data=b"")
