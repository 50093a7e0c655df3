"""Metric plugins for the unit tests, registered by `registry_with({"harness.metrics": {...}})`: good ones of
each form (a query, a function over the slice's tally or per-second table) and bad ones."""

from __future__ import annotations

from typing import ClassVar

from harness.analysis import metrics
from harness.analysis.plugin_metrics import MetricRecords, PluginMetric, SqlMetric

HERE = "tests.unit.plugins.metric_plugins"


class FailedShare(SqlMetric):
    share = True
    query = "SELECT avg(CASE WHEN outcome <> 'ok' THEN 1.0 ELSE 0.0 END) AS value FROM records;"


class WorstSecond(PluginMetric):
    """The lowest availability of any second of the slice (its per-second table: one row per second)."""

    scopes: ClassVar[tuple[str, ...]] = ("operation",)
    share = True

    def measure(self, records: MetricRecords) -> float | None:
        series = metrics.availability_series(records.per_second())
        return None if series.empty else float(series.min())


class TallyAvailability(PluginMetric):
    share = True

    def measure(self, records: MetricRecords) -> float | None:
        return metrics.availability(records.tally)


class Raises(PluginMetric):
    def measure(self, records: MetricRecords) -> float | None:
        raise RuntimeError("boom")


class NotANumber(PluginMetric):
    def measure(self, records: MetricRecords) -> float | None:
        return "many"  # type: ignore[return-value]  # what a careless plugin returns


class EveryRow(SqlMetric):
    query = "SELECT latency_ms FROM records"


class NoMeasure(PluginMetric):
    pass


class BadScopes(PluginMetric):
    scopes: ClassVar[tuple[str, ...]] = ("request",)

    def measure(self, records: MetricRecords) -> float | None:
        return 1.0


class BadColumn(SqlMetric):
    query = "SELECT avg(latency_us) FROM records"


NOT_A_CLASS = 42
