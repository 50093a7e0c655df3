"""SLO verdicts: each scenario `Slo` evaluated over the records of its phases (all phases when none named).

A verdict is "pass", "fail" or "no_data". `no_data` (nothing in scope was measured) is not a pass: a test
that measured nothing did not show that the SLO held, so it fails the run, and its message says why.
The observed value is the point estimate, and the verdict is its: the 95% interval is reported beside it
(Wilson for shares, order statistics for percentiles, Student t for attempts per operation; `metrics.
METHODS`), and when it reaches across the threshold `crosses_threshold` says so, so that a pass (or a fail)
the data cannot tell from its opposite is marked as such. Operation-scope SLOs are judged on step
operations: whole-journey records (`step == "journey"`) are left out, since their failures are already
those of their steps.

A record belongs to the phase it began in. An SLO with `in_flight_at_end: exclude` leaves out the records
still in flight when their phase ended (harness.analysis.aggregate, `Slice.exclude_in_flight`), and its
verdict says how many per phase (`metrics.in_flight_note`, the one wording of it, for every output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from harness.analysis import metrics, plugin_metrics
from harness.analysis.aggregate import Slice
from harness.analysis.frames import Run
from harness.analysis.metrics import Recovery, in_flight_note
from harness.scenario.model import Metric, Slo

Verdict = Literal["pass", "fail", "no_data"]


@dataclass(frozen=True)
class SloResult:
    name: str
    metric: str
    scope: str
    phases: tuple[str, ...] | None  # None: all phases
    threshold: dict[str, float]  # {"at_least": x} or {"at_most": x}
    observed: float | None
    interval: tuple[float | None, float | None] | None  # a None bound: the sample cannot give it
    verdict: Verdict
    message: str
    interval_method: str | None = None  # a key of metrics.METHODS
    crosses_threshold: bool | None = None  # the interval holds values on both sides of the threshold
    in_flight_at_end: str = "count"  # the SLO's choice: "count" or "exclude"
    # with "exclude": records left out per phase (None: the phase has no end yet, so none could be)
    excluded_in_flight_by_phase: dict[str, int | None] | None = None

    @property
    def excluded_in_flight(self) -> int | None:
        """How many records were left out as still in flight at the end of their phase (None: none asked)."""
        if self.excluded_in_flight_by_phase is None:
            return None
        return sum(n or 0 for n in self.excluded_in_flight_by_phase.values())

    @property
    def conclusive(self) -> bool:
        """False when the interval says the opposite verdict is as plausible."""
        return not self.crosses_threshold

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric,
            "scope": self.scope,
            "phases": list(self.phases) if self.phases is not None else None,
            "threshold": dict(self.threshold),
            "observed": self.observed,
            "interval": list(self.interval) if self.interval is not None else None,
            "interval_method": self.interval_method,
            "crosses_threshold": self.crosses_threshold,
            "verdict": self.verdict,
            "message": self.message,
            "in_flight_at_end": self.in_flight_at_end,
            "excluded_in_flight": self.excluded_in_flight,
            "excluded_in_flight_by_phase": (
                dict(self.excluded_in_flight_by_phase) if self.excluded_in_flight_by_phase is not None else None
            ),
        }


@dataclass(frozen=True)
class _Measure:
    scope: str
    observed: float | None
    interval: tuple[float | None, float | None] | None = None
    method: str | None = None  # how the interval was found (a key of metrics.METHODS)
    missing: str = ""  # why there is no data, when observed is None
    note: str = ""  # what the reader must know beside the number


def evaluate_slos(run: Run, recoveries: Mapping[str, Recovery]) -> list[SloResult]:
    return [evaluate_slo(slo, run, recoveries) for slo in run.scenario.slos]


def evaluate_slo(slo: Slo, run: Run, recoveries: Mapping[str, Recovery]) -> SloResult:
    measure = _MEASURES.get(slo.metric, _plugin)(slo, run, recoveries)
    threshold = {"at_least": slo.at_least} if slo.at_least is not None else {"at_most": slo.at_most}
    over = f"over phases {', '.join(slo.phases)}" if slo.phases else "over all phases"
    if slo.flows:
        over += f", flows {', '.join(slo.flows)}"
    if slo.steps:
        over += f", steps {', '.join(slo.steps)}"
    ((bound, limit),) = threshold.items()
    assert limit is not None
    crosses = None
    if measure.observed is None:
        verdict: Verdict = "no_data"
        message = f"no data: {measure.missing} {over}; a test that measured nothing did not pass"
    else:
        held = measure.observed >= limit if bound == "at_least" else measure.observed <= limit
        verdict = "pass" if held else "fail"
        message = f"observed {_fmt(measure.observed)}, objective {bound.replace('_', ' ')} {_fmt(limit)} {over}"
        crosses = crosses_threshold(measure.interval, limit)
        if crosses:
            message += "; the 95% interval reaches across the objective, so this verdict is not conclusive"
        if measure.note:
            message += f"; {measure.note}"
    left_out = _left_out(slo, run)
    if left_out is not None and (note := in_flight_note(left_out)):
        message += f"; {note}"
    return SloResult(
        name=slo.name,
        metric=slo.metric,
        scope=measure.scope,
        phases=slo.phases,
        threshold={bound: float(limit)},
        observed=measure.observed,
        interval=measure.interval,
        verdict=verdict,
        message=message,
        interval_method=measure.method if measure.interval is not None else None,
        crosses_threshold=crosses,
        in_flight_at_end=slo.in_flight_at_end,
        excluded_in_flight_by_phase=left_out,
    )


def _left_out(slo: Slo, run: Run) -> dict[str, int | None] | None:
    """Per phase (in scenario order), the records the SLO left out as still in flight when their phase ended;
    None unless it asked to."""
    if slo.in_flight_at_end != "exclude":
        return None
    found = run.stats.left_out(scope_slice(slo, _SCOPE_OF.get(slo.metric)))
    order = [p.name for p in run.phases]
    return {name: found[name] for name in sorted(found, key=lambda n: order.index(n) if n in order else len(order))}


def crosses_threshold(interval: tuple[float | None, float | None] | None, limit: float) -> bool | None:
    """Whether the interval holds values on both sides of the limit (an open bound reaches everywhere);
    None without an interval."""
    if interval is None:
        return None
    low, high = interval
    return (low is None or low < limit) and (high is None or high > limit)


def scope_slice(slo: Slo, scope: str | None = None) -> Slice:
    """The records an SLO speaks of: its phases, and its flows and steps when it names some; at operation
    scope, step operations only."""
    scope = scope or slo.scope
    return Slice(scope, slo.phases, slo.flows, slo.steps, journeys=scope == "attempt",
                 exclude_in_flight=slo.in_flight_at_end == "exclude")  # fmt: skip


def slices(run: Run) -> list[Slice]:
    """Every slice `evaluate_slos` and `error_budgets` will ask for (to prepare them in one go)."""
    measured = [slo for slo in run.scenario.slos if slo.metric != "time_to_recover_s"]
    return [scope_slice(slo, _SCOPE_OF.get(slo.metric)) for slo in measured]


def _scoped(slo: Slo, run: Run, scope: str | None = None) -> metrics.Tally:
    return run.stats.tally(scope_slice(slo, scope))


def error_budgets(run: Run) -> list[dict[str, Any]]:
    """The error budget each availability objective allowed over its phases and how much of it was burned
    (availability `at_least` t, or error_rate `at_most` 1 - t)."""
    out = []
    for slo in run.scenario.slos:
        if slo.metric == "availability" and slo.at_least is not None:
            target = slo.at_least
        elif slo.metric == "error_rate" and slo.at_most is not None:
            target = 1.0 - slo.at_most
        else:
            continue
        budget = metrics.error_budget(_scoped(slo, run), target)
        out.append(
            {
                "slo": slo.name,
                "scope": slo.scope,
                "phases": list(slo.phases) if slo.phases is not None else None,
                "target": target,
                **budget,
            }
        )
    return out


def _availability(slo: Slo, run: Run, _: Mapping[str, Recovery]) -> _Measure:
    frame = _scoped(slo, run)
    return _Measure(
        slo.scope,
        metrics.availability(frame),
        metrics.availability_interval(frame),
        "wilson",
        f"no {slo.scope} records",
    )


def _error_rate(slo: Slo, run: Run, _: Mapping[str, Recovery]) -> _Measure:
    frame = _scoped(slo, run)
    return _Measure(
        slo.scope, metrics.error_rate(frame), metrics.error_rate_interval(frame), "wilson", f"no {slo.scope} records"
    )


def _percentile(slo: Slo, run: Run, _: Mapping[str, Recovery]) -> _Measure:
    name = slo.metric.removeprefix("latency_").removesuffix("_ms")  # latency_p99_ms -> p99
    frame = _scoped(slo, run)
    q = metrics.PERCENTILES[name]
    observed = metrics.latency_percentile(frame, q)
    interval = metrics.percentile_interval(frame, q) if q < 100.0 else None  # the max has no interval
    return _Measure(slo.scope, observed, interval, "order_statistic", missing=f"no {slo.scope} latency samples")


def _attempts_per_operation(slo: Slo, run: Run, _: Mapping[str, Recovery]) -> _Measure:
    frame = _scoped(slo, run, "operation")
    observed = metrics.attempts_per_operation(frame)
    interval = metrics.attempts_per_operation_interval(frame) if observed is not None else None
    return _Measure("operation", observed, interval, "student_t", missing="no operation records")


def _throughput(slo: Slo, run: Run, _: Mapping[str, Recovery]) -> _Measure:
    names = set(slo.phases) if slo.phases is not None else {p.name for p in run.phases}
    durations = [p.duration_s for p in run.phases if p.name in names and p.duration_s is not None]
    observed = metrics.throughput_ops(_scoped(slo, run, "operation"), sum(durations))
    return _Measure("operation", observed, missing="no phase of known duration")


def _time_to_recover(slo: Slo, run: Run, recoveries: Mapping[str, Recovery]) -> _Measure:
    """The worst recovery over the faults of the SLO's phases whose recovery could be measured (each in its
    own window, `harness.analysis.recovery`); 0.0 when the scenario put no fault there."""
    in_scope = [f for f in run.faults if slo.phases is None or f.phase in slo.phases]
    if not in_scope:
        planned = any(p.faults for p in run.phases if slo.phases is None or p.name in slo.phases)
        if planned:
            return _Measure("operation", None, missing="the scenario has faults but none was applied")
        return _Measure("operation", 0.0)
    times = {f.id: t for f in in_scope if (t := recoveries[f.id].time_to_recover_s) is not None}
    unmeasured = [f"{f.id} ({recoveries[f.id].note or 'not measured'})" for f in in_scope if f.id not in times]
    if not times:
        return _Measure("operation", None, missing="no fault's recovery could be measured: " + "; ".join(unmeasured))
    worst = max(times, key=lambda fid: times[fid])
    note = f"worst: {worst}" + (f"; not measured: {'; '.join(unmeasured)}" if unmeasured else "")
    return _Measure("operation", times[worst], note=note)


def _plugin(slo: Slo, run: Run, _: Mapping[str, Recovery]) -> _Measure:
    """A metric plugin's number over the SLO's slice (harness.analysis.plugin_metrics); no interval."""
    observed, missing = plugin_metrics.measure(slo.metric, run, scope_slice(slo))
    return _Measure(slo.scope, observed, missing=missing)


def _unauthorized(slo: Slo, run: Run, _: Mapping[str, Recovery]) -> _Measure:
    attempts = _scoped(slo, run, "attempt")
    if not attempts.count:
        return _Measure("attempt", None, missing="no attempt records")
    return _Measure("attempt", float(metrics.unauthorized_accepted(attempts)))


_MEASURES: dict[str, Callable[[Slo, Run, Mapping[str, Recovery]], _Measure]] = {
    "availability": _availability,
    "error_rate": _error_rate,
    "attempts_per_operation": _attempts_per_operation,
    "throughput_ops": _throughput,
    "time_to_recover_s": _time_to_recover,
    "unauthorized_accepted": _unauthorized,
    **{f"latency_{name}_ms": _percentile for name in metrics.PERCENTILES if f"latency_{name}_ms" in get_args(Metric)},
}
# Metrics whose scope is fixed whatever the SLO says (the others follow `slo.scope`).
_SCOPE_OF = {"attempts_per_operation": "operation", "throughput_ops": "operation", "unauthorized_accepted": "attempt"}


def _fmt(value: float) -> str:
    return f"{value:.6g}"
