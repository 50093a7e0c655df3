"""`http_drop`: the proxy reads a matching request, then closes or resets the connection unanswered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from harness.contract import ToxicSpec
from harness.faults.base import HttpMatch, Probability


class HttpDropFault(HttpMatch):
    """Read a matching request, then end the connection without answering (FIN or RST)."""

    type: Literal["http_drop"]
    probability: Probability = 1.0
    mode: Literal["close", "reset"] = "close"

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        return self.http_toxic(name, "http_drop", {**self.http_match(paths), "probability": self.probability,
                                                   "mode": self.mode})  # fmt: skip
