"""Starting an RFC 8628 device authorization, shared by the OIDC face (form) and the AWS face (JSON)."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from urllib.parse import quote

from harness.endpoints import EMBEDDED_PATHS
from harness.idp.audit import code_ref
from harness.idp.flowstore import DeviceCode, new_user_code
from harness.idp.services import Services


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


def start(services: Services, *, client_id: str, scope: str) -> DeviceAuthorization:
    chaos = services.chaos
    interval = chaos.device_interval_s if chaos.device_interval_s is not None else services.config.device_interval_s
    expires_in = chaos.device_expires_s if chaos.device_expires_s is not None else services.config.device_expires_s
    device_code = "dc." + secrets.token_urlsafe(32)
    for _ in range(5):  # a user code collision is rare (20^8 codes); try again with another
        user_code = new_user_code()
        try:
            services.flows.add_device_code(
                device_code,
                DeviceCode(user_code, client_id, scope, time.time() + expires_in, interval, None, "pending", None,
                           None),
            )
            break
        except sqlite3.IntegrityError:
            continue
    else:
        raise RuntimeError("could not allocate a unique user code")
    services.audit.emit("device_authorization_started", client_id=client_id, user_code_sha256=code_ref(user_code),
                        scope=scope)
    uri = services.config.url(EMBEDDED_PATHS["device_verification"])
    return DeviceAuthorization(
        device_code=device_code,
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=f"{uri}?user_code={quote(user_code)}",
        expires_in=expires_in,
        interval=interval,
    )
