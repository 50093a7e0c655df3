"""What a run shows while it goes (issue 20): the scenario's `live:` section."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from harness.modelbase import Model


class Live(Model):
    """Live outputs of a run (issue 20): Prometheus text at /metrics, and a partial report every so often
    (`harness run --metrics-port`, `--partial-every` override them)."""

    metrics_port: Annotated[int, Field(ge=0, le=65_535)] | None = None  # None: no /metrics; 0: a free port
    metrics_host: str = "127.0.0.1"  # the address /metrics listens on (0.0.0.0 for a Prometheus elsewhere)
    partial_report_every_s: Annotated[float, Field(ge=10)] | None = None  # None: only the final report
