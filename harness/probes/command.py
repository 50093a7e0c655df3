"""`command`: run an argv list (no shell) and compare its exit code; its output goes to the probe's log
in the run's logs/ (which the secret scan reads), never into the detail. A command still running at the
probe's timeout is ended with its process group (it leads one of its own) and the probe fails."""

from __future__ import annotations

import subprocess
import time
from typing import Annotated, Literal

from pydantic import Field, field_validator

from harness.lifeline import end_process_group
from harness.probes.base import ProbeContext, ProbeModel, ProbeResult

Argv = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1, max_length=256)]
KILL_GRACE_S = 2.0


class CommandProbe(ProbeModel):
    type: Literal["command"]
    argv: Argv
    expect_exit: Annotated[int, Field(ge=0, le=255)] = 0

    @field_validator("argv")
    @classmethod
    def _no_shell_line(cls, argv: tuple[str, ...]) -> tuple[str, ...]:
        if len(argv) == 1 and " " in argv[0].strip():
            raise ValueError(f"an argv list, one word per item (no shell runs it): {argv[0].split()}")
        return argv

    def check(self, ctx: ProbeContext) -> ProbeResult:
        started = time.monotonic()
        try:
            process = subprocess.Popen(list(self.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        except OSError as exc:
            return ProbeResult(False, f"{self.argv[0]}: could not start ({exc.strerror or type(exc).__name__})")
        try:
            output, _ = process.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            end_process_group(process, KILL_GRACE_S)
            return ProbeResult(False, f"{self.argv[0]}: still running after {self.timeout_s:g} s; ended")
        for line in output.decode(errors="replace").splitlines()[-50:]:
            ctx.log(line)
        took = time.monotonic() - started
        code = process.returncode
        detail = f"{self.argv[0]}: exit code {code} after {took:.2f} s"
        if code != self.expect_exit:
            return ProbeResult(False, f"{detail} (expected {self.expect_exit})", float(code))
        return ProbeResult(True, detail, float(code))


