"""`latency`: delay responses. Aimed at an endpoint or path it delays matching HTTP requests
(`http_latency` toxic); otherwise every chunk the target sends back (Toxiproxy's `latency`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from harness.contract import ToxicSpec
from harness.faults.base import HttpMatch


class LatencyFault(HttpMatch):
    """Delay responses. With an endpoint or path, per matching HTTP request; otherwise every TCP chunk."""

    type: Literal["latency"]
    latency_ms: Annotated[float, Field(ge=0, le=600_000)]
    jitter_ms: Annotated[float, Field(ge=0)] = 0.0

    def toxic(self, name: str, paths: Mapping[str, str]) -> ToxicSpec:
        timing = {"latency": round(self.latency_ms), "jitter": round(self.jitter_ms)}
        if self.endpoint is None and self.path is None:
            return {"name": name, "type": "latency", "stream": "downstream", "toxicity": 1.0, "attributes": timing}
        return self.http_toxic(name, "http_latency", {**timing, **self.http_match(paths), "probability": 1.0})
