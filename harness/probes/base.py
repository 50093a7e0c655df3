"""What a probe type is: a frozen model of its attributes whose `check` answers ok or not, with a detail.

A probe's `check` runs in the orchestrator (plain Python, no gevent), in a thread of its own, bounded by
the probe's `timeout_s`: a check that overruns is a failure ("timed out"). It never raises for a system
that answers badly (that is `ok=False`); an exception escaping it is also reported as a failure, with its
type. A detail is one short line, and never holds a secret (the response body is not quoted).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

from pydantic import Field

from harness.endpoints import is_loopback
from harness.modelbase import Model, PositiveSeconds

ProbeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    value: float | None = None  # the number it judged, when it judged one (a Prometheus query's value)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "detail": self.detail}
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class ProbeContext:
    """What a probe's check gets: the hosts beyond loopback it may reach, the environment (for the
    variables it names, e.g. a bearer token), and its time budget."""

    allow: Collection[str] = ()
    environ: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 5.0
    log: Callable[[str], None] = lambda line: None

    def allowed(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return is_loopback(host) or host in self.allow


class ProbeModel(Model):
    """A probe's attributes. Subclasses set `type` to their wire name (= their entry point's name) and
    implement `check`. The fields here are every probe's: when it runs and how long it may take."""

    type: str
    name: ProbeName  # how stop conditions, the journal and the report name it
    before: bool = True  # run before the load starts (the steady state held before)
    after: bool = True  # run after the load ended and every fault was removed
    every_s: Annotated[float, Field(ge=1, le=3600)] | None = None  # also during the run, this often
    timeout_s: PositiveSeconds = 5.0

    @classmethod
    def wire_type(cls) -> str:
        (name,) = get_args(cls.model_fields["type"].annotation)
        return str(name)

    def urls(self) -> tuple[str, ...]:
        """The URLs the probe reaches (checked against the scenario's allowed hosts when it loads)."""
        return ()

    def check(self, ctx: ProbeContext) -> ProbeResult:
        raise NotImplementedError
