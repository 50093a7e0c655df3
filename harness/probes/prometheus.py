"""`prometheus`: a PromQL instant query (`GET /api/v1/query`, Prometheus's HTTP API) judged against a
bound; ok when every series of the answer is within it. FIS-style stop conditions are this probe named in
`stop_conditions`: "abort if the IdP's error rate passes 5%" is

    probes: [{name: idp-errors, type: prometheus, url: http://127.0.0.1:9090, every_s: 5,
              query: 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))',
              at_most: 0.05}]
    stop_conditions: [{probe: idp-errors}]
"""

from __future__ import annotations

import math
from typing import Any, Literal

import requests
from pydantic import Field, field_validator, model_validator

from harness.modelbase import at_field
from harness.probes.base import ProbeContext, ProbeModel, ProbeResult


class PrometheusProbe(ProbeModel):
    type: Literal["prometheus"]
    url: str  # the Prometheus server (or anything serving its query API), e.g. http://127.0.0.1:9090
    query: str = Field(min_length=1, max_length=4096)
    at_most: float | None = None
    at_least: float | None = None
    if_empty: Literal["ok", "fail"] = "fail"  # an answer with no series (e.g. no errors counted yet)
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. Authorization: Bearer ${PROM_TOKEN}

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL such as http://127.0.0.1:9090 (got {url!r})")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _one_bound(self) -> PrometheusProbe:
        if (self.at_most is None) == (self.at_least is None):
            raise at_field("at_most", "give exactly one of at_most or at_least")
        return self

    def urls(self) -> tuple[str, ...]:
        return (self.url,)

    def check(self, ctx: ProbeContext) -> ProbeResult:
        if not ctx.allowed(self.url):
            return ProbeResult(False, f"{self.url}: host not allowed (loopback, or list it in target.allow)")
        with requests.Session() as session:
            session.trust_env = False
            try:
                response = session.get(f"{self.url}/api/v1/query", params={"query": self.query},
                                       headers=self.headers, timeout=(min(2.0, self.timeout_s), self.timeout_s))
            except requests.RequestException as exc:
                return ProbeResult(False, f"query to {self.url}: {type(exc).__name__}")
        try:
            values = sample_values(response.json())
        except (ValueError, KeyError, TypeError, IndexError):
            return ProbeResult(False, f"query to {self.url}: {response.status_code}, not a Prometheus answer")
        if values is None:
            return ProbeResult(False, f"query to {self.url}: {response.status_code}, status not success")
        bound = f"at most {self.at_most:g}" if self.at_most is not None else f"at least {self.at_least:g}"
        if not values:
            return ProbeResult(self.if_empty == "ok", f"the query returned no series (if_empty: {self.if_empty})")
        worst = max(values) if self.at_most is not None else min(values)
        held = not math.isnan(worst) and (worst <= self.at_most if self.at_most is not None
                                          else worst >= (self.at_least or 0.0))  # fmt: skip
        series = f" (worst of {len(values)} series)" if len(values) > 1 else ""
        return ProbeResult(held, f"query value {worst:.6g}{series}, expected {bound}", worst)


def sample_values(body: Any) -> list[float] | None:
    """The values of an instant query's answer (vector or scalar); None when Prometheus said it failed."""
    if body.get("status") != "success":
        return None
    data = body["data"]
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return [float(result[1])]
    if kind == "vector":
        return [float(sample["value"][1]) for sample in result]
    raise ValueError(f"resultType {kind} is not an instant vector or scalar")
