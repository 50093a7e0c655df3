"""`process_kill`: signal the embedded target's processes (TERM or KILL, one worker or all); harness.chaos.process."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import ProcessFault


class ProcessKillFault(ProcessFault):
    """Signal the target's processes; at the phase end a dead target is started again (same store, port).

    With `target: one`, the killed worker's listening socket closes with it (each worker has its own,
    harness.idp.listeners): connections it had not accepted yet are reset, and new ones go to the others
    until uvicorn's supervisor has started its replacement."""

    type: Literal["process_kill"]
    target: Literal["one", "all"] = "all"  # one: a single uvicorn worker (the process itself with workers: 1)
    signal: Literal["TERM", "KILL"] = "KILL"
