"""http_answer (ours): answers matching requests itself with a fixed response, any status, 200 included:
a stale cache or a lying gateway in front of the provider (e.g. introspection answered `{"active": true}`
whatever the token, replaying an acceptance after a revocation). Request handling as in http_error: a
matching request that wins the coin flip (`probability`) is swallowed whole and answered at its end, the
connection kept open; `body` is sent as given with `content_type`.
"""

from __future__ import annotations

from pydantic import Field

from harness.proxy.http import HttpMatch, Request
from harness.proxy.pipeline import StageContext
from harness.proxy.registry import Toxic, register
from harness.proxy.request_faults import RequestFaultStage
from harness.proxy.responses import render


@register
class HttpAnswerToxic(Toxic, HttpMatch):
    type_name = "http_answer"
    streams = ("upstream",)
    http = True

    status: int = Field(default=200, ge=200, le=599)
    probability: float = Field(default=1.0, ge=0.0, le=1.0, description="chance per matching request")
    body: str = Field(default="", max_length=65536)
    content_type: str = Field(default="application/json", pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[^\r\n]{1,120}$")

    def response(self, keep_alive: bool = True) -> bytes:
        return render(self.status, self.body.encode(), self.content_type, None, keep_alive, self.type_name)

    def stage(self, ctx: StageContext) -> HttpAnswerStage:
        return HttpAnswerStage(self, ctx)


class HttpAnswerStage(RequestFaultStage):
    toxic: HttpAnswerToxic

    def act(self, req: Request) -> None:
        req.fault_response = self.toxic.response(req.keep_alive)
