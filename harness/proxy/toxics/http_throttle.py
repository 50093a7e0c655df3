"""http_throttle (ours): a token bucket over matching requests, shared by every connection of the
proxy: `rate` requests per second, up to `burst` at once. A request finding the bucket empty is answered
with `status` (429 by default; the `aws` preset with status 400 is sso-oidc's SlowDownException)."""

from __future__ import annotations

from pydantic import Field, PrivateAttr

from harness.proxy.http import HttpMatch, Request
from harness.proxy.pipeline import StageContext
from harness.proxy.registry import Toxic, register
from harness.proxy.request_faults import RequestFaultStage
from harness.proxy.responses import Preset, error_body, error_headers, render


class TokenBucket:
    """`rate` tokens per second, at most `burst` kept; starts full."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last: float | None = None

    def take(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@register
class HttpThrottleToxic(Toxic, HttpMatch):
    type_name = "http_throttle"
    streams = ("upstream",)
    http = True

    rate: float = Field(default=10.0, gt=0, description="requests per second let through")
    burst: int = Field(default=1, ge=1, description="requests let through at once after a quiet spell")
    status: int = Field(default=429, ge=400, le=599)
    retry_after: int = Field(default=1, ge=0, description="seconds for Retry-After; 0: no header")
    preset: Preset = "oauth"
    aws_error: str = Field(default="", description="aws preset: x-amzn-ErrorType (default from status)")
    _bucket: TokenBucket | None = PrivateAttr(default=None)

    def bucket(self) -> TokenBucket:
        if self._bucket is None:
            self._bucket = TokenBucket(self.rate, self.burst)
        return self._bucket

    def response(self, keep_alive: bool = True) -> bytes:
        body, content_type = error_body(self.status, self.preset, self.aws_error)
        headers = error_headers(self.status, self.preset, self.aws_error, self.retry_after)
        return render(self.status, body, content_type, headers, keep_alive, self.type_name)

    def stage(self, ctx: StageContext) -> HttpThrottleStage:
        return HttpThrottleStage(self, ctx)


class HttpThrottleStage(RequestFaultStage):
    toxic: HttpThrottleToxic

    def wants(self, req: Request) -> bool:
        return not self.toxic.bucket().take(self.ctx.clock.time())

    def act(self, req: Request) -> None:
        req.fault_response = self.toxic.response(req.keep_alive)
