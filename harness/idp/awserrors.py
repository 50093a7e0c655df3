"""Errors in the form botocore parses into its modelled exception classes (aws-sso-wire.md section 4):
the `x-amzn-ErrorType` header names the shape (it wins over everything in the body), the body keeps the
OAuth `error`/`error_description` (sso-oidc) or `message` (portal) plus `__type`."""

from __future__ import annotations

from starlette.responses import Response

from harness.idp.oauth import NO_STORE, OAuthError, RateLimited, json_response

OIDC_NAMESPACE = "com.amazonaws.sso.oidc"
PORTAL_NAMESPACE = "com.amazonaws.switchboard.portal"

# OAuth error code -> (sso-oidc exception shape, HTTP status)
OIDC_SHAPES: dict[str, tuple[str, int]] = {
    "authorization_pending": ("AuthorizationPendingException", 400),
    "slow_down": ("SlowDownException", 400),
    "expired_token": ("ExpiredTokenException", 400),
    "access_denied": ("AccessDeniedException", 400),
    "invalid_grant": ("InvalidGrantException", 400),
    "invalid_client": ("InvalidClientException", 401),
    "unauthorized_client": ("UnauthorizedClientException", 400),
    "unsupported_grant_type": ("UnsupportedGrantTypeException", 400),
    "invalid_scope": ("InvalidScopeException", 400),
    "invalid_request": ("InvalidRequestException", 400),
    "invalid_client_metadata": ("InvalidClientMetadataException", 400),
    "invalid_redirect_uri": ("InvalidRedirectUriException", 400),
    "server_error": ("InternalServerException", 500),
}


def oidc_error(exc: OAuthError) -> Response:
    """An OAuthError as AWS sso-oidc sends it. A rate limit becomes SlowDownException: sso-oidc models no
    429, and the device poller is the one client that slows down for it."""
    error = "slow_down" if isinstance(exc, RateLimited) else exc.error
    shape, status = OIDC_SHAPES.get(error, ("InvalidRequestException", 400))
    body = {"__type": f"{OIDC_NAMESPACE}#{shape}", "error": error, "error_description": exc.description}
    headers = {**NO_STORE, "x-amzn-ErrorType": f"{shape}:http://internal.amazon.com/coral/{OIDC_NAMESPACE}/"}
    return json_response(body, status=status, headers=headers)


class PortalError(Exception):
    """An error of the AWS portal (botocore service `sso`): members `message` only."""

    shape = "InvalidRequestException"
    status = 400

    def __init__(self, message: str, *, retry_after_s: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s

    def response(self) -> Response:
        headers = {"x-amzn-ErrorType": self.shape, "Cache-Control": "no-store"}
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(self.retry_after_s)
        body = {"message": self.message, "__type": f"{PORTAL_NAMESPACE}#{self.shape}"}
        return json_response(body, status=self.status, headers=headers)


class PortalInvalidRequest(PortalError):
    pass


class PortalUnauthorized(PortalError):
    shape = "UnauthorizedException"
    status = 401


class PortalNotFound(PortalError):
    shape = "ResourceNotFoundException"
    status = 404


class PortalTooManyRequests(PortalError):
    shape = "TooManyRequestsException"
    status = 429
