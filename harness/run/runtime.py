"""What the orchestrator tells the load processes about this run (written as `runtime.json` in the run
directory). Secrets are not in it: the client secret travels by environment variable only."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

SECRET_ENV = "HARNESS_CLIENT_SECRET"
CLIENT_ID_ENV = "HARNESS_CLIENT_ID"


class ScenarioChoice(BaseModel):
    """A scenario the web UI's start form offers (`harness ui`): runnable on this run's services."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    file: str  # its resolved copy in the run directory (choices/<name>.yaml)
    plan: str  # what the form shows: phases, users and faults (loadgen.plan_text)


class Runtime(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_dir: str
    scenario_file: str  # the resolved scenario.yaml inside the run directory
    base_url: str  # where clients send requests (the proxy's listener, or the target itself)
    target_url: str  # the target's own address, for health checks that must bypass the proxy
    proxy_api: str | None = None  # Toxiproxy-compatible control API
    proxy_name: str | None = None
    client_id: str
    seed: int = 0
    netns: str | None = None  # the network namespace the target runs in (harness.chaos), if any
    choices: tuple[ScenarioChoice, ...] = ()  # web UI only: the run's own scenario first

    def choice(self, value: str) -> ScenarioChoice | None:
        """The choice a start-form value names (the value is its plan; its name is what precedes ':')."""
        name = value.split(":", 1)[0].strip()
        return next((c for c in self.choices if c.name == name), None)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Runtime:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
