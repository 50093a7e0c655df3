"""http_corrupt (ours): forwards a matching request and breaks its response, for client robustness:
`mode: truncate` (part of the body, then the connection closes) or `garble` (body bytes replaced, length
kept). Acts on the first chunk of the response, which holds the whole of a typical SSO response."""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import HttpMatch, Request
from harness.proxy.pipeline import StageContext
from harness.proxy.registry import Toxic, register
from harness.proxy.request_faults import CorruptedResponse, CorruptMode, RequestFaultStage


@register
class HttpCorruptToxic(Toxic, HttpMatch):
    type_name = "http_corrupt"
    streams = ("upstream",)
    http = True

    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance per matching request")
    mode: CorruptMode = "garble"

    def stage(self, ctx: StageContext) -> HttpCorruptStage:
        return HttpCorruptStage(self, ctx)


class HttpCorruptStage(RequestFaultStage):
    toxic: HttpCorruptToxic

    def act(self, req: Request) -> None:
        CorruptedResponse(self.ctx.link, self.toxic.mode)
