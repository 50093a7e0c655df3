"""`process_pause`: SIGSTOP the target's processes, SIGCONT after duration_s; harness.chaos.process."""

from __future__ import annotations

from typing import Literal

from harness.faults.base import ProcessFault
from harness.modelbase import PositiveSeconds


class ProcessPauseFault(ProcessFault):
    """SIGSTOP, then SIGCONT after duration_s (or at the phase end, whichever comes first).

    With `target: one`, the paused worker keeps its own listening socket (each worker has one,
    harness.idp.listeners): the kernel goes on handing it its share of new connections, which wait until
    SIGCONT, as a hung instance behind a load balancer does until its health check fails."""

    type: Literal["process_pause"]
    target: Literal["one", "all"] = "all"  # one: a single uvicorn worker (the process itself with workers: 1)
    duration_s: PositiveSeconds | None = None
