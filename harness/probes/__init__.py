"""Steady-state probes: checks of anything a scenario names (an HTTP endpoint, a command, a Prometheus
query), each answering ok or not with a detail. One module per probe type, registered as `harness.probes`
entry points (ours in pyproject.toml, a plugin's in its package); `registry.Probe` is the union the
scenario's `probes:` validate against. The orchestrator runs them before and after the load, every
`every_s` during it, and a stop condition naming a probe aborts the run when it fails (harness.run.steady).
"""

from harness.probes.base import ProbeContext, ProbeModel, ProbeResult
from harness.probes.registry import Probe, probe_types

__all__ = ["Probe", "ProbeContext", "ProbeModel", "ProbeResult", "probe_types"]
