"""`http_corrupt`: the response to a matching request arrives truncated or with a garbled body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from harness.contract import ToxicSpec
from harness.faults.base import HttpMatch, Probability


class HttpCorruptFault(HttpMatch):
    """Break the response to a matching request: truncate it (then close) or garble its body."""

    type: Literal["http_corrupt"]
    probability: Probability = 1.0
    mode: Literal["truncate", "garble"] = "garble"

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        return self.http_toxic(name, "http_corrupt", {**self.http_match(paths), "probability": self.probability,
                                                      "mode": self.mode})  # fmt: skip
