"""`http_answer`: the proxy answers matching requests itself with a fixed response, any status (200
included), as a stale cache or a lying gateway in front of the provider would: introspection answered
`{"active": true}` whatever the token replays the acceptance of a revoked one, which the revocation
checks must catch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.contract import ToxicSpec
from harness.faults.base import HttpMatch, Probability
from harness.modelbase import at_field


class HttpAnswerFault(HttpMatch):
    """Answer matching requests with a fixed status and body instead of forwarding them."""

    type: Literal["http_answer"]
    status: Annotated[int, Field(ge=200, le=599)] = 200
    body: dict[str, Any] | str = ""  # a mapping is sent as JSON
    probability: Probability = 1.0

    @model_validator(mode="after")
    def _needs_target(self) -> HttpAnswerFault:
        if self.endpoint is None and self.path is None:
            raise at_field("endpoint", "http_answer needs an endpoint or a path to match")
        return self

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        text = json.dumps(self.body) if isinstance(self.body, dict) else self.body
        kind = "application/json" if isinstance(self.body, dict) else "text/plain; charset=utf-8"
        return self.http_toxic(name, "http_answer", {**self.http_match(paths), "status": self.status, "body": text,
                                                     "content_type": kind, "probability": self.probability})
