"""What a scenario judges: its SLOs (a metric over the records of some phases, flows and steps, with one
bound) and its stop conditions (a rolling window of the records, or a steady-state probe, that aborts the
run). Part of the scenario model (harness.scenario.model re-exports every name).

An SLO's metric is one of ours (`Metric`, defined in harness.analysis.metrics) or a metric plugin's
(`harness.metrics` entry points, harness.analysis.plugin_metrics): its name is checked against the registry
of the moment, and the plugin's class says which scopes it measures and whether it is a share, so a bound
it can never meet is refused at its line as ours are. The class is checked here without importing the
analysis package (a layer above): it must be a class with `measure` and `problems()` (what
harness.analysis.plugin_metrics.PluginMetric provides), and `problems()` says what else is wrong with it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from harness import plugins
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
BUILTIN_METRICS: tuple[str, ...] = get_args(Metric)


def check_bound(metric: str, field: str, value: float | None, plugin: Any = None) -> None:
    """Raise at `field` when `value` cannot be a bound of `metric` (see above); a plugin's metric (its class)
    is a share when it says so, and may otherwise take any value."""
    if value is None:
        return
    share = bool(plugin.share) if plugin is not None else metric in SHARE_METRICS
    if share and not 0.0 <= value <= 1.0:
        hint = f" ({value:g}% is {value / 100:g})" if 1.0 < value <= 100.0 else " (99.9% is 0.999)"
        raise at_field(field, f"{metric} is a share from 0 to 1{hint}; got {value:g}")
    floor = METRIC_FLOOR.get(metric, 0.0)
    if plugin is None and not share and value < floor:
        raise at_field(field, f"{metric} is at least {floor:g}; got {value:g}")


# --- metric plugins ------------------------------------------------------------------------------

_checked: dict[str, Any] | None = None  # name -> class of every metric plugin, while the registry stands
_lock = threading.Lock()


def _forget() -> None:
    global _checked
    _checked = None


plugins.on_reset(_forget)


def _check_metric(name: str, obj: Any) -> str | None:
    if name in BUILTIN_METRICS:
        return f"{name!r} is one of the harness's own metrics; give the plugin's metric a name of its own"
    if not (isinstance(obj, type) and callable(getattr(obj, "measure", None))
            and callable(getattr(obj, "problems", None))):  # fmt: skip
        return "not a metric (a subclass of harness.analysis.plugin_metrics.PluginMetric, with measure())"
    plugin: Any = obj  # a class with the protocol's methods (checked just above), of the plugin's making
    try:
        problem = plugin.problems()
    except Exception as exc:  # the plugin's own checks may fail in any way; say how
        return f"checking it raised {type(exc).__name__}: {exc}"
    return None if problem is None else str(problem)


def metric_plugins() -> dict[str, Any]:
    """name -> class of every registered metric plugin, checked once per registry; PluginError (exit 2)
    naming each plugin that did not import or is not a usable metric."""
    global _checked
    with _lock:
        if _checked is None:
            _checked = dict(plugins.registry().load("metrics", _check_metric))
        return dict(_checked)


def metric_names() -> list[str]:
    """Every metric an SLO may name: ours, then the plugins' (metadata only: nothing imported)."""
    return [*BUILTIN_METRICS, *(n for n in plugins.registry().names("metrics") if n not in BUILTIN_METRICS)]


def _check_metric_name(value: str) -> str:
    if value not in BUILTIN_METRICS and value not in plugins.registry().names("metrics"):
        expected = ", ".join(repr(n) for n in metric_names())
        raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
    return value


class _RegisteredMetric:
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_check_metric_name, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"enum": metric_names(), "title": "Metric", "type": "string"}


if TYPE_CHECKING:
    MetricName = str
else:
    MetricName = Annotated[str, _RegisteredMetric]


class Slo(Model):
    name: str = Field(min_length=1, max_length=128)
    metric: MetricName  # one of ours (Metric) or a metric plugin's
    scope: Literal["attempt", "operation"] = "operation"
    phases: tuple[str, ...] | None = None
    flows: tuple[str, ...] | None = None  # names in the flow mix (an entry's `name`, else its flow); None: all
    steps: tuple[str, ...] | None = None  # step names as records carry them (`token`, `verify`...); None: all
    at_least: float | None = None
    at_most: float | None = None
    in_flight_at_end: Literal["count", "exclude"] = Field(
        default="count",
        description=(
            "What to do with records (attempts or operations) still in flight when the phase they began in "
            "ended: a record belongs to the phase it began in, so one begun in a phase's last moment and "
            "answered under the next phase's fault counts against this SLO (`count`, the default). `exclude` "
            "leaves out the records whose end (ts + latency) is after the end of their phase (journal.json "
            "`phases[].end`), and the verdict says how many."
        ),
    )

    @model_validator(mode="after")
    def _one_bound(self) -> Slo:
        if (self.at_least is None) == (self.at_most is None):
            raise at_field("at_most", "give exactly one of at_least or at_most")
        plugin = None
        if self.metric not in BUILTIN_METRICS:
            plugin = metric_plugins()[self.metric]
            if self.scope not in plugin.scopes:
                raise at_field("scope", f"metric {self.metric} measures {' or '.join(plugin.scopes)} records, "
                                        f"not {self.scope} records")  # fmt: skip
        check_bound(self.metric, "at_least", self.at_least, plugin)
        check_bound(self.metric, "at_most", self.at_most, plugin)
        if self.in_flight_at_end == "exclude" and self.metric == "time_to_recover_s":
            raise at_field("in_flight_at_end", "time_to_recover_s is judged on 1-second windows, not on records: "
                                               "there is no record to leave out")  # fmt: skip
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
