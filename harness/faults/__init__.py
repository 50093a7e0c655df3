"""Scenario fault types and how each becomes a change on the fault proxy (and is rolled back).

One module per fault type, registered under its scenario `type` (= its file name). A fault turns into a
Toxiproxy-style toxic spec; `FaultApplier` adds and removes them through the proxy API.
"""

from harness.faults.registry import FAULT_TYPES, FaultApplier, ToxicSpec, toxic_spec

__all__ = ["FAULT_TYPES", "FaultApplier", "ToxicSpec", "toxic_spec"]
