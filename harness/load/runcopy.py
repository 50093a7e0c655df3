"""A remote worker's copy of the run, made from the master's setup (harness.contract.WorkerSetup): its run
directory, scenario and runtime. Kept apart from harness.load.remote, which needs Locust, so that it is
unit-tested without it."""

from __future__ import annotations

import os
from pathlib import Path

from harness.clients.flows import credential_variables
from harness.contract import Env, OriginRoute, Runtime, WorkerSetup
from harness.errors import HarnessError
from harness.scenario import Scenario, load_scenario


def prepare_run(setup: WorkerSetup, work_dir: Path, node: str) -> tuple[Runtime, Scenario] | str:
    """This worker's copy of the run from the master's setup: its run directory, scenario and runtime (the
    origin map, and the run's CA certificate beside the copy: only records go home). A string: why this
    worker cannot take part (a secret missing here, a scenario that does not load here: e.g. its
    target.ca_bundle is not on this machine)."""
    run_dir = work_dir / f"{setup['run_id']}-{node}"
    (run_dir / "records").mkdir(parents=True, exist_ok=True)
    scenario_file = run_dir / "scenario.yaml"
    scenario_file.write_text(setup["scenario_yaml"], encoding="utf-8")
    try:
        scenario = load_scenario(scenario_file)
    except HarnessError as exc:
        return f"the master's scenario does not load here: {exc}"
    missing = [name for name in credential_variables(scenario) if not os.environ.get(name)]
    if missing:
        return f"set {', '.join(missing)} in this worker's environment (the same values as on the master)"
    if setup["user_count"] and not os.environ.get(Env.USER_COUNT):
        os.environ[Env.USER_COUNT] = str(setup["user_count"])  # not a secret: how many seeded users
    ca_file = None
    if setup.get("ca_pem"):
        ca_path = work_dir / f"{setup['run_id']}-{node}-ca.pem"
        ca_path.write_text(str(setup["ca_pem"]), encoding="utf-8")
        ca_file = str(ca_path.resolve())
    origins = tuple(OriginRoute.model_validate(o) for o in setup.get("origins") or ())
    runtime = Runtime(run_dir=str(run_dir.resolve()), scenario_file=str(scenario_file.resolve()),
                      base_url=setup["base_url"], target_url=setup["target_url"], client_id=setup["client_id"],
                      seed=setup["seed"], origins=origins, endpoints=dict(setup.get("endpoints") or {}),
                      ca_file=ca_file)  # fmt: skip
    runtime.save(run_dir / "runtime.json")
    return runtime, scenario

