"""`http_error`: the proxy answers matching requests itself with an error status, with a probability."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import model_validator

from harness.contract import ToxicSpec
from harness.faults.base import AnsweringFault, Probability
from harness.modelbase import at_field


class HttpErrorFault(AnsweringFault):
    """Answer matching requests with an error status instead of forwarding them, with a probability."""

    type: Literal["http_error"]
    probability: Probability = 1.0

    @model_validator(mode="after")
    def _needs_target(self) -> HttpErrorFault:
        if self.endpoint is None and self.path is None:
            raise at_field("endpoint", "http_error needs an endpoint or a path to match")
        return self

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        attributes = {**self.http_match(paths), "probability": self.probability, **self.answer_attributes()}
        return self.http_toxic(name, "http_error", attributes)
