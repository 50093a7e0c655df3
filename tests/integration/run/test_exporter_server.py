"""harness.run.exporter's server on a real loopback socket: /metrics answers Prometheus text that
prometheus_client's parser reads, and a port already taken is bad input (exit 2) named with the option."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import EXIT_BAD_INPUT, InputError
from harness.run.exporter import LiveMetrics
from tests.helpers import harness_argv
from tests.soak_support import SCENARIO as SOAK

pytestmark = pytest.mark.integration


def test_metrics_are_served_and_parse() -> None:
    metrics = LiveMetrics("run-1", "soak")
    port = metrics.serve(0)
    try:
        frame = pd.DataFrame([{"ts": 1.0, "phase": "baseline", "flow": "cc", "step": "token", "outcome": "ok",
                               "latency_ms": 12.0}])  # fmt: skip
        metrics.add_records("operations", frame)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
    finally:
        metrics.close()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["harness_operations"].type == "counter"
    assert families["harness_operation_latency_seconds"].type == "histogram"
    (total,) = [s for s in families["harness_operations"].samples if s.name == "harness_operations_total"]
    assert total.value == 1 and total.labels["step"] == "token"


def test_a_port_in_use_is_bad_input_naming_the_option() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match="--metrics-port") as info:
            LiveMetrics("run-1", "soak").serve(port)
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_harness_run_with_a_taken_metrics_port_exits_2_having_made_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        argv = harness_argv("run", str(SOAK), "--out", str(tmp_path / "reports"), "--metrics-port",
                            str(taken.getsockname()[1]))  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert "--metrics-port" in result.stderr
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
