"""`aws_credentials_refresh`: a logged-in user fetching role credentials again and again, as SDKs do;
the SSO token is refreshed (CreateToken refresh_token) when it is within 15 minutes of expiry, and a
lost session (401 from the portal, refresh refused) means a new device login."""

from __future__ import annotations

import time
from typing import ClassVar

from harness.clients.flows.aws_device_login import REFRESH_WINDOW_S, AwsDeviceLoginFlow
from harness.clients.oauth import aws_token_problem


class AwsCredentialsRefreshFlow(AwsDeviceLoginFlow):
    name: ClassVar[str] = "aws_credentials_refresh"

    def refresh(self) -> bool:
        session, reg = self.session, self.registration
        if session is None or reg is None or not session.get("refreshToken"):
            return False
        result = self.aws_call("refresh", "POST", "token", validate=aws_token_problem,
                               json={"clientId": reg["clientId"], "clientSecret": reg["clientSecret"],
                                     "grantType": "refresh_token", "refreshToken": session["refreshToken"]})
        body = result.json() if result is not None and result.ok else None
        if not isinstance(body, dict):
            return False
        session["accessToken"] = body["accessToken"]
        session["refreshToken"] = body.get("refreshToken") or session["refreshToken"]
        session["expires_at"] = time.time() + body["expiresIn"]
        return True

    def steps(self) -> None:
        if self.session is None:
            session = self.login()
            if session is None or not self.pick_role(session):
                return
            self.session = session
        elif self.session["expires_at"] - time.time() < REFRESH_WINDOW_S and not self.refresh():
            self.session = None
            return
        if not self.role_credentials(self.session):
            self.session = None  # as botocore: UnauthorizedSSOTokenError, log in again next time
