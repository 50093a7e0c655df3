"""Scenario fault types, one module per type (its model, its channel, what it asks that channel for),
all listed in `registry.Fault`; `FaultApplier` puts them on and takes them off."""

from harness.faults.applier import FaultApplier
from harness.faults.base import Channel, FaultModel
from harness.faults.registry import FAULT_ADAPTER, FAULT_MODELS, FAULT_TYPES, Fault, toxic_spec, types_on

__all__ = ["FAULT_ADAPTER", "FAULT_MODELS", "FAULT_TYPES", "Channel", "Fault", "FaultApplier", "FaultModel",
           "toxic_spec", "types_on"]  # fmt: skip
