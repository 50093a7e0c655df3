"""`http`: one request to a URL on an allowed host; ok when the status is one expected and, with
`json_path`, the JSON body has a value there (equal to `equals` when given). No retries: a probe asks
whether the service answers right now."""

from __future__ import annotations

from typing import Annotated, Literal

import requests
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_json_path
from pydantic import Field, JsonValue, field_validator, model_validator

from harness.modelbase import at_field
from harness.probes.base import ProbeContext, ProbeModel, ProbeResult

Status = Annotated[int, Field(ge=100, le=599)]
SHOWN = 60  # characters of a matched value a detail quotes


class HttpProbe(ProbeModel):
    type: Literal["http"]
    url: str
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)  # values may be ${VAR} (a token stays out of files)
    expect_status: tuple[Status, ...] = (200,)
    json_path: str | None = None  # JSONPath (RFC 9535 style, jsonpath-ng), e.g. $.status or $.checks[0].state
    equals: JsonValue = None  # with json_path: the value expected there (none: any value but null)

    @field_validator("expect_status", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, int) else value

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL (got {url!r})")
        return url

    @model_validator(mode="after")
    def _path_parses(self) -> HttpProbe:
        if self.json_path is not None:
            try:
                parse_json_path(self.json_path)
            except (JsonPathParserError, Exception) as exc:  # the parser raises bare Exceptions too
                raise at_field("json_path", f"not a JSONPath expression: {exc}") from None
        elif self.equals is not None:
            raise at_field("equals", "equals compares the value at json_path; give json_path too")
        return self

    def urls(self) -> tuple[str, ...]:
        return (self.url,)

    def check(self, ctx: ProbeContext) -> ProbeResult:
        if not ctx.allowed(self.url):
            return ProbeResult(False, f"{self.url}: host not allowed (loopback, or list it in target.allow)")
        with requests.Session() as session:
            session.trust_env = False  # no proxy from the environment: the URL is what was asked for
            try:
                response = session.request(self.method, self.url, headers=self.headers, allow_redirects=False,
                                           timeout=(min(2.0, self.timeout_s), self.timeout_s))  # fmt: skip
            except requests.RequestException as exc:
                return ProbeResult(False, f"{self.method} {self.url}: {type(exc).__name__}")
        where = f"{self.method} {self.url}: {response.status_code}"
        if response.status_code not in self.expect_status:
            expected = ", ".join(str(s) for s in self.expect_status)
            return ProbeResult(False, f"{where} (expected {expected})")
        if self.json_path is None:
            return ProbeResult(True, where)
        try:
            body = response.json()
        except ValueError:
            return ProbeResult(False, f"{where}, body is not JSON (json_path {self.json_path})")
        matches = [m.value for m in parse_json_path(self.json_path).find(body)]
        if not matches or matches[0] is None:
            return ProbeResult(False, f"{where}, nothing at {self.json_path}")
        found = matches[0]
        shown = repr(found)[:SHOWN]
        if self.equals is not None and found != self.equals:
            return ProbeResult(False, f"{where}, {self.json_path} is {shown} (expected {self.equals!r})")
        return ProbeResult(True, f"{where}, {self.json_path} is {shown}")
