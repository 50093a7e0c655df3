"""Every scenario fault type, registered once: the `Fault` union below is what a scenario's `faults:`
validate against, and every list of fault types (by channel) is derived from it.

Adding a fault type is one module in this package (its model, named `<type>.py`, with its channel and
what it asks that channel for) plus its line in `Fault`; tests/unit/faults/test_registry.py checks that
every module is registered under its own name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, get_args

from pydantic import Field, TypeAdapter

from harness.contract import ToxicSpec
from harness.endpoints import EMBEDDED_PATHS
from harness.faults.bandwidth import BandwidthFault
from harness.faults.bandwidth_limit import BandwidthLimitFault
from harness.faults.base import Channel, FaultModel, ProxyFault
from harness.faults.command import CommandFault
from harness.faults.down import DownFault
from harness.faults.http_answer import HttpAnswerFault
from harness.faults.http_corrupt import HttpCorruptFault
from harness.faults.http_drop import HttpDropFault
from harness.faults.http_error import HttpErrorFault
from harness.faults.http_throttle import HttpThrottleFault
from harness.faults.latency import LatencyFault
from harness.faults.limit_data import LimitDataFault
from harness.faults.packet_corrupt import PacketCorruptFault
from harness.faults.packet_delay import PacketDelayFault
from harness.faults.packet_loss import PacketLossFault
from harness.faults.packet_reorder import PacketReorderFault
from harness.faults.partition import PartitionFault
from harness.faults.process_kill import ProcessKillFault
from harness.faults.process_pause import ProcessPauseFault
from harness.faults.process_restart import ProcessRestartFault
from harness.faults.reset_peer import ResetPeerFault
from harness.faults.slicer import SlicerFault
from harness.faults.slow_close import SlowCloseFault
from harness.faults.target_clock_skew import TargetClockSkewFault
from harness.faults.target_device_timing import TargetDeviceTimingFault
from harness.faults.target_error import TargetErrorFault
from harness.faults.target_id_token_wrong_nonce import TargetIdTokenWrongNonceFault
from harness.faults.target_jwks_key_swap import TargetJwksKeySwapFault
from harness.faults.target_key_rotation import TargetKeyRotationFault
from harness.faults.target_store_latency import TargetStoreLatencyFault
from harness.faults.target_token_alg_none import TargetTokenAlgNoneFault
from harness.faults.target_token_expired import TargetTokenExpiredFault
from harness.faults.target_token_unknown_key import TargetTokenUnknownKeyFault
from harness.faults.target_token_wrong_aud import TargetTokenWrongAudFault
from harness.faults.target_token_wrong_iss import TargetTokenWrongIssFault
from harness.faults.tcp_reject import TcpRejectFault
from harness.faults.timeout import TimeoutFault

Fault = Annotated[
    # proxy
    LatencyFault | HttpErrorFault | HttpDropFault | HttpThrottleFault | HttpCorruptFault | HttpAnswerFault
    | BandwidthFault
    | TimeoutFault | ResetPeerFault | SlowCloseFault | SlicerFault | LimitDataFault | DownFault
    # process
    | ProcessKillFault | ProcessPauseFault | ProcessRestartFault
    # network
    | PacketLossFault | PartitionFault | TcpRejectFault | BandwidthLimitFault | PacketDelayFault
    | PacketCorruptFault | PacketReorderFault
    # target
    | TargetErrorFault | TargetStoreLatencyFault | TargetClockSkewFault | TargetKeyRotationFault
    | TargetDeviceTimingFault
    # target: security chaos, tokens forged on purpose (harness/idp/forgery.py)
    | TargetTokenWrongAudFault | TargetTokenWrongIssFault | TargetTokenExpiredFault | TargetTokenUnknownKeyFault
    | TargetTokenAlgNoneFault | TargetIdTokenWrongNonceFault | TargetJwksKeySwapFault
    # command
    | CommandFault,
    Field(discriminator="type"),
]  # fmt: skip

FAULT_MODELS: tuple[type[FaultModel], ...] = get_args(get_args(Fault)[0])
FAULT_TYPES: dict[str, type[FaultModel]] = {model.wire_type(): model for model in FAULT_MODELS}
FAULT_ADAPTER: TypeAdapter[Fault] = TypeAdapter(Fault)


def types_on(*channels: Channel) -> frozenset[str]:
    """The fault types applied through any of `channels`."""
    return frozenset(name for name, model in FAULT_TYPES.items() if model.channel in channels)


def toxic_spec(fault: ProxyFault, toxic_name: str, paths: Mapping[str, str] = EMBEDDED_PATHS) -> ToxicSpec:
    """The toxic a proxy fault adds, with endpoint names resolved through `paths`."""
    return fault.toxic(toxic_name, paths)
