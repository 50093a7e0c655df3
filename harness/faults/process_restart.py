"""`process_restart`: stop the target, wait, start it again on the same store and port; harness.chaos.process."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import ProcessFault
from harness.modelbase import Seconds


class ProcessRestartFault(ProcessFault):
    """Stop the whole target, wait down_s, start it again on the same store and port."""

    type: Literal["process_restart"]
    signal: Literal["TERM", "KILL"] = "TERM"
    down_s: Seconds = 0.0
