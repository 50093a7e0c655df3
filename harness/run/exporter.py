"""Live metrics out: Prometheus text at `/metrics` while a run goes (`live.metrics_port` in the scenario or
`harness run --metrics-port`), for a Prometheus and the Grafana dashboard in docs/grafana/.

Served by the process that watches the run (the orchestrator, beside the master or the single Locust
process), from what it already reads: every record shard as it lands (`watch.LiveRecords`, so local and
distributed runs alike), the journal's phases and faults, and the SLO states `harness.run.live` judged,
the same numbers as the console line and `live.json`. Nothing here computes an SLO again.

- `harness_attempts_total`, `harness_operations_total` {phase, flow, step, outcome}: counters, grown by
  the records of each second's shards (operations include the whole-journey records, step="journey";
  the dashboard leaves them out as the report does);
- `harness_attempt_latency_seconds`, `harness_operation_latency_seconds`: histograms by the same labels;
- `harness_fault_active` {fault_id, type, phase, label}: 1 while a fault is in force, 0 once removed;
- `harness_slo_state` {slo, metric, state}: 1 for the state the live judgement gives (holding, violated,
  waiting, pending, no data yet); `harness_slo_observed` {slo, metric}: the observed value;
  `harness_slo_judged_timestamp_seconds`;
- `harness_phase` {phase}: 1 for the running phase; `harness_run_info` {run_id, scenario};
  `harness_records_newest_timestamp_seconds`.

The text format is prometheus_client's (a custom collector over our own cumulative state): a bulk update
per shard is one vectorised group-by, where `Histogram.observe` would cost a Python call per record.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from harness.analysis.frames import fault_label
from harness.errors import InputError

LABELS = ("phase", "flow", "step", "outcome")
# upper bounds in seconds (Prometheus' unit), from a fast token call to a timeout
BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
KINDS = {"attempts": "attempt", "operations": "operation"}
SLO_STATES = ("holding", "violated", "waiting", "pending", "no data yet")


class _Tally:
    """Cumulative counts, bucket counts and latency sums per label set, for one kind of record."""

    def __init__(self) -> None:
        self.count: dict[tuple[str, ...], int] = {}
        self.buckets: dict[tuple[str, ...], np.ndarray[Any, np.dtype[np.int64]]] = {}
        self.sum_s: dict[tuple[str, ...], float] = {}

    def add(self, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        latency_s = frame["latency_ms"].to_numpy(dtype="float64", na_value=np.nan) / 1000.0
        # bucket i holds latency <= BUCKETS_S[i]; index len(BUCKETS_S) is +Inf only
        table = pd.DataFrame({name: frame[name].astype(str) for name in LABELS})
        table["bucket"] = np.searchsorted(np.asarray(BUCKETS_S), latency_s, side="left")
        table["latency_s"] = np.nan_to_num(latency_s)
        for key, group in table.groupby(list(LABELS), sort=False, observed=True):
            labels = tuple(str(k) for k in key)
            counts = np.bincount(group["bucket"].to_numpy(), minlength=len(BUCKETS_S) + 1).astype(np.int64)
            self.count[labels] = self.count.get(labels, 0) + len(group)
            self.buckets[labels] = self.buckets.get(labels, np.zeros(len(BUCKETS_S) + 1, np.int64)) + counts
            self.sum_s[labels] = self.sum_s.get(labels, 0.0) + float(group["latency_s"].sum())


class LiveMetrics:
    """The run's metrics as a prometheus_client collector; fed by the watch loop, read by the server's
    thread (one lock between them)."""

    def __init__(self, run_id: str, scenario: str):
        self.run_id, self.scenario = run_id, scenario
        self._lock = threading.Lock()
        self._tallies = {kind: _Tally() for kind in KINDS}
        self._phase = ""
        self._faults: list[dict[str, Any]] = []
        self._slos: list[dict[str, Any]] = []
        self._slos_at: float | None = None
        self._newest_ts: float | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # a collector is anything with collect()
        self._server: Any = None

    # --- fed by the watch loop ----------------------------------------------------------------------

    def add_records(self, kind: str, frame: pd.DataFrame) -> None:
        """Rows of a shard that just arrived (harness.run.watch.LiveRecords' listener)."""
        with self._lock:
            self._tallies[kind].add(frame)
            if not frame.empty:
                newest = float(frame["ts"].max())
                self._newest_ts = newest if self._newest_ts is None else max(self._newest_ts, newest)

    def update(self, journal: dict[str, Any], phase: str, slos: list[dict[str, Any]], slos_at: float | None) -> None:
        """The journal's faults, the running phase and the live SLO states (harness.run.live's)."""
        faults = [f for f in journal.get("faults") or [] if isinstance(f, dict) and f.get("applied_at") is not None]
        with self._lock:
            self._phase, self._faults, self._slos, self._slos_at = phase, faults, list(slos), slos_at

    # --- read by the server -------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            yield from self._records()
            yield from self._faults_gauge()
            yield from self._slo_metrics()
            info = InfoMetricFamily("harness_run", "The run this process watches", labels=("run_id", "scenario"))
            info.add_metric([self.run_id, self.scenario], {})
            yield info
            phase = GaugeMetricFamily("harness_phase", "1 for the phase running now", labels=("phase",))
            if self._phase:
                phase.add_metric([self._phase], 1.0)
            yield phase
            if self._newest_ts is not None:
                about = "Start time of the newest record read so far"
                yield GaugeMetricFamily("harness_records_newest_timestamp_seconds", about, value=self._newest_ts)

    def _records(self) -> Iterator[Metric]:
        for kind, singular in KINDS.items():
            tally = self._tallies[kind]
            counter = CounterMetricFamily(f"harness_{kind}", f"{singular.capitalize()} records so far", labels=LABELS)
            histogram = HistogramMetricFamily(f"harness_{singular}_latency_seconds",
                                              f"{singular.capitalize()} latency (end to end for operations)",
                                              labels=LABELS)  # fmt: skip
            for labels, count in tally.count.items():
                counter.add_metric(list(labels), count)
                cumulative = np.cumsum(tally.buckets[labels])
                bounds = [*(f"{b:g}" for b in BUCKETS_S), "+Inf"]
                histogram.add_metric(list(labels), [(b, float(c)) for b, c in zip(bounds, cumulative, strict=True)],
                                     tally.sum_s[labels])  # fmt: skip
            yield counter
            yield histogram

    def _faults_gauge(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("harness_fault_active", "1 while the fault is in force, 0 once removed",
                                  labels=("fault_id", "type", "phase", "label"))  # fmt: skip
        for fault in self._faults:
            label = fault_label({"type": fault.get("type"), **(fault.get("spec") or {})})
            on = 1.0 if fault.get("removed_at") is None else 0.0
            gauge.add_metric([str(fault.get("id")), str(fault.get("type")), str(fault.get("phase")), label], on)
        yield gauge

    def _slo_metrics(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("harness_slo_state", "1 for each SLO's live state (harness.run.live's judgement)",
                                  labels=("slo", "metric", "state"))  # fmt: skip
        observed = GaugeMetricFamily("harness_slo_observed", "Each SLO's observed value so far",
                                     labels=("slo", "metric"))  # fmt: skip
        for slo in self._slos:
            name, metric = str(slo.get("name")), str(slo.get("metric"))
            for candidate in SLO_STATES:
                state.add_metric([name, metric, candidate], 1.0 if slo.get("state") == candidate else 0.0)
            value = slo.get("observed")
            if isinstance(value, int | float) and not isinstance(value, bool):
                observed.add_metric([name, metric], float(value))
        yield state
        yield observed
        if self._slos_at is not None:
            yield GaugeMetricFamily("harness_slo_judged_timestamp_seconds", "When the SLO states were judged",
                                    value=self._slos_at)  # fmt: skip

    # --- the server ---------------------------------------------------------------------------------

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on host:port (0: a free port); returns the port."""
        try:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise InputError(f"--metrics-port {port}: cannot listen on {host}:{port}: {exc}") from exc
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
