"""`process_kill`: signal the embedded target's processes (TERM or KILL, one worker or all); harness.chaos.process."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import ProcessFault


class ProcessKillFault(ProcessFault):
    """Signal the target's processes; at the phase end a dead target is started again (same store, port)."""

    type: Literal["process_kill"]
    target: Literal["one", "all"] = "all"  # one: a single uvicorn worker (the process itself with workers: 1)
    signal: Literal["TERM", "KILL"] = "KILL"
