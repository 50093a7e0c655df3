"""`command`: a fault action of the user's own on their infrastructure, for example
`kubectl scale deploy/keycloak --replicas=0` at the phase start and `--replicas=2` at its end.

Both are argv lists, run without a shell by the orchestrator (harness.chaos.command), each with a
timeout, their output in the run's logs/. `revert` runs at the phase end, on every exit path of the run
(normal end, failure, Ctrl-C, SIGTERM) and from `harness cleanup` after the orchestrator itself died; an
`apply` that fails (non-zero exit, timeout) is reverted at once and recorded as the fault's error.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from harness.faults.base import Channel, FaultModel

Argv = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1, max_length=256)]


class CommandFault(FaultModel):
    """Run `apply` when the phase starts and `revert` when it ends (or the run does)."""

    channel: ClassVar[Channel] = "command"
    type: Literal["command"]
    apply: Argv
    revert: Argv
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0  # each of apply and revert
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)  # for logs and reports

    @field_validator("apply", "revert")
    @classmethod
    def _no_shell_line(cls, argv: tuple[str, ...]) -> tuple[str, ...]:
        if len(argv) == 1 and " " in argv[0].strip():
            raise ValueError(f"an argv list, one word per item (no shell runs it): {list(argv[0].split())}")
        return argv
