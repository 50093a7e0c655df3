"""Scenario fault types, one module per type (its model, its channel, what it asks that channel for),
all registered as `harness.faults` entry points (`registry.Fault`); `FaultApplier` puts them on and takes them off."""

from harness.faults.applier import FaultApplier
from harness.faults.base import Channel, FaultContext, FaultModel, PluginFault
from harness.faults.registry import FAULT_ADAPTER, FAULT_TYPES, Fault, fault_models, fault_types, toxic_spec, types_on

__all__ = ["FAULT_ADAPTER", "FAULT_TYPES", "Channel", "Fault", "FaultApplier", "FaultContext", "FaultModel",
           "PluginFault", "fault_models", "fault_types", "toxic_spec", "types_on"]  # fmt: skip
