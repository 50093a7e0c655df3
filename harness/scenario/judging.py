"""What a scenario judges: its SLOs (a metric over the records of some phases, flows and steps, with one
bound) and its stop conditions (a rolling window of the records, or a steady-state probe, that aborts the
run). Part of the scenario model (harness.scenario.model re-exports every name)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.modelbase import Model, at_field

# --- SLOs ----------------------------------------------------------------------------------------

Metric = Literal[
    "availability",
    "error_rate",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "attempts_per_operation",
    "throughput_ops",
    "time_to_recover_s",
    "unauthorized_accepted",
]


# What a bound of each metric can be: shares are fractions (an SLO of 99.9 meant 99.9% is a typo that would
# never pass), latencies and times are not negative, and every operation makes at least one attempt.
SHARE_METRICS = ("availability", "error_rate")
METRIC_FLOOR = {"attempts_per_operation": 1.0}


def check_bound(metric: str, field: str, value: float | None) -> None:
    """Raise at `field` when `value` cannot be a bound of `metric` (see above)."""
    if value is None:
        return
    if metric in SHARE_METRICS and not 0.0 <= value <= 1.0:
        hint = f" ({value:g}% is {value / 100:g})" if 1.0 < value <= 100.0 else " (99.9% is 0.999)"
        raise at_field(field, f"{metric} is a share from 0 to 1{hint}; got {value:g}")
    floor = METRIC_FLOOR.get(metric, 0.0)
    if metric not in SHARE_METRICS and value < floor:
        raise at_field(field, f"{metric} is at least {floor:g}; got {value:g}")


class Slo(Model):
    name: str = Field(min_length=1, max_length=128)
    metric: Metric
    scope: Literal["attempt", "operation"] = "operation"
    phases: tuple[str, ...] | None = None
    flows: tuple[str, ...] | None = None  # names in the flow mix (an entry's `name`, else its flow); None: all
    steps: tuple[str, ...] | None = None  # step names as records carry them (`token`, `verify`...); None: all
    at_least: float | None = None
    at_most: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Slo:
        if (self.at_least is None) == (self.at_most is None):
            raise at_field("at_most", "give exactly one of at_least or at_most")
        check_bound(self.metric, "at_least", self.at_least)
        check_bound(self.metric, "at_most", self.at_most)
        return self


# --- stop conditions ----------------------------------------------------------------------------

StopMetric = Literal["availability", "error_rate", "latency_p95_ms", "latency_p99_ms", "unauthorized_accepted"]


class StopCondition(Model):
    """Abort the run (faults off, load stopped, exit 3) when a rolling window of the records crosses a
    bound, or (`probe:`) when a steady-state probe of the scenario fails `failures` times in a row during
    the run (FIS-style: "abort if the IdP's error-rate alarm fires")."""

    name: str | None = Field(default=None, max_length=128)
    metric: StopMetric | None = None
    probe: str | None = None  # a probe's name (`probes:`); it needs `every_s` to run during the load
    failures: Annotated[int, Field(ge=1, le=100)] = 1  # with probe: failed checks in a row that abort
    scope: Literal["attempt", "operation"] = "operation"
    window_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    min_samples: Annotated[int, Field(ge=1)] = 20
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> StopCondition:
        if (self.metric is None) == (self.probe is None):
            raise at_field("metric", "give a metric (judged on the records) or a probe (a steady-state probe's name)")
        if self.probe is not None:
            if self.below is not None or self.above is not None:
                raise at_field("below" if self.below is not None else "above",
                               "a probe stop condition has no bound: the probe's own check decides")  # fmt: skip
            return self
        assert self.metric is not None
        if (self.below is None) == (self.above is None):
            raise at_field("above", "give exactly one of below or above")
        check_bound(self.metric, "below", self.below)
        check_bound(self.metric, "above", self.above)
        return self

    @property
    def label(self) -> str:
        if self.probe is not None:
            times = f" {self.failures} times in a row" if self.failures > 1 else ""
            return self.name or f"probe {self.probe} failed{times}"
        bound = f"below {self.below:g}" if self.below is not None else f"above {self.above:g}"
        return self.name or f"{self.metric} ({self.scope}, {self.window_s:g} s) {bound}"
