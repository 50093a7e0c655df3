"""http_drop (ours): reads a matching request whole, then ends the connection without answering:
`mode: close` (FIN: the client sees the connection closed before a response) or `reset` (RST)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.proxy.http import HttpMatch, Request
from harness.proxy.pipeline import StageContext
from harness.proxy.registry import Toxic, register
from harness.proxy.request_faults import RequestFaultStage


@register
class HttpDropToxic(Toxic, HttpMatch):
    type_name = "http_drop"
    streams = ("upstream",)
    http = True

    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance per matching request")
    mode: Literal["close", "reset"] = "close"

    def stage(self, ctx: StageContext) -> HttpDropStage:
        return HttpDropStage(self, ctx)


class HttpDropStage(RequestFaultStage):
    toxic: HttpDropToxic

    def act(self, req: Request) -> None:
        req.fault_response = b""
        req.drop = self.toxic.mode
