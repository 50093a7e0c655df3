"""One exception tree for the harness.

    HarnessError                      base; carries the process exit code
    ├── InputError          (exit 2)  bad scenario, bad arguments: nothing was started
    │   └── ScenarioError              one or more `file:line: field.path: message` problems
    └── InfrastructureError (exit 4)  target, proxy or load generator would not start or died

A stop condition or a signal is not an exception of this tree: the orchestrator turns it into exit 3
(EXIT_ABORTED) after its rollback (harness.run.signals.Interrupted, StopConditionTriggered).
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_SLO_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ABORTED = 3
EXIT_INFRA = 4


class HarnessError(Exception):
    exit_code = EXIT_INFRA


class InputError(HarnessError):
    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(InputError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ScenarioWarning(UserWarning):
    """Something in an input file that still works but should change (a deprecated field name)."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


class InfrastructureError(HarnessError):
    exit_code = EXIT_INFRA

