"""http_error (ours): answers matching requests with an error status instead of forwarding them.

Per request, on the client -> server stream: a request that matches method and path and wins the coin
flip (`probability`) is swallowed whole (body included) and the proxy answers it itself, keeping the
connection open for the next request. The answer follows a preset (see responses.py): `oauth` error
JSON, `aws` (`x-amzn-ErrorType` + `__type`, as botocore parses it) or `plain`; `body` and `headers`
override or add. Toxiproxy's `toxicity` still picks the connections it applies to.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from harness.proxy.http import HttpMatch, Request
from harness.proxy.pipeline import StageContext
from harness.proxy.registry import Toxic, register
from harness.proxy.request_faults import RequestFaultStage
from harness.proxy.responses import Preset, error_body, error_headers, render

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


@register
class HttpErrorToxic(Toxic, HttpMatch):
    type_name = "http_error"
    streams = ("upstream",)
    http = True

    status: int = Field(default=503, ge=400, le=599)
    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance per matching request")
    retry_after: int = Field(default=0, ge=0, description="seconds for Retry-After; 0: no header")
    preset: Preset = "oauth"
    aws_error: str = Field(default="", description="aws preset: x-amzn-ErrorType (default from status)")
    body: str | None = Field(default=None, description="replaces the preset's body")
    headers: dict[str, str] = Field(default_factory=dict, description="extra response headers")

    @field_validator("headers")
    @classmethod
    def _header_syntax(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name) or "\r" in text or "\n" in text:
                raise ValueError(f"header {name!r}: a name is a token and a value has no line break")
        return value

    def response(self, keep_alive: bool = True) -> bytes:
        body, content_type = error_body(self.status, self.preset, self.aws_error, self.body)
        headers = error_headers(self.status, self.preset, self.aws_error, self.retry_after, self.headers)
        return render(self.status, body, content_type, headers, keep_alive, self.type_name)

    def stage(self, ctx: StageContext) -> HttpErrorStage:
        return HttpErrorStage(self, ctx)


class HttpErrorStage(RequestFaultStage):
    toxic: HttpErrorToxic

    def act(self, req: Request) -> None:
        req.fault_response = self.toxic.response(req.keep_alive)
