"""Before a run starts: `harness run` and `harness ui` enter here, the scenario is loaded and checked
(plugins, duration options, an external provider's environment, --listen and --master-bind), `--dry-run`
prints the plan, and only then is a Run made (orchestrator.py). `harness cleanup` too.
Nothing here starts a process or writes a file, so every refusal is bad input with nothing left behind.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from harness.clients.users import UsersFileError, read_users_file
from harness.errors import InputError
from harness.run import loadgen, remote
from harness.run.console import Console
from harness.run.leftovers import ActiveRuns
from harness.run.orchestrator import Run
from harness.run.origins import read_provider
from harness.run.plan import describe_plan
from harness.run.soak import SoakOptions
from harness.scenario import Scenario, load_scenario
from harness.scenario.model import ExternalTarget, check_plugins


def run_scenario_file(
    path: str | Path,
    out: str | Path = "reports",
    seed: int | None = None,
    duration_scale: float = 1.0,
    dry_run: bool = False,
    workers: int = 0,
    ui: loadgen.LoadMode | None = None,
    console: Console | None = None,
    master_bind: str | None = None,
    expect_workers: int = 0,
    workers_timeout_s: float = loadgen.EXPECT_WORKERS_WAIT_S,
    listen: str | None = None,
    overrides: Sequence[str] = (),
    soak: SoakOptions | None = None,
) -> int:
    check_plugins()  # a plugin that does not import or is not usable stops the run here, named with its package
    scenario = load_scenario(path, overrides)  # bad input raises before anything starts or is written
    if not duration_scale > 0:
        raise InputError(f"--duration-scale must be above 0 (got {duration_scale:g})")
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": seed})
    scenario, duration_scale = (soak or SoakOptions()).apply(scenario, duration_scale)  # --duration, --until
    check_external_target(scenario)
    master = remote.parse_hostport(master_bind, "--master-bind") if master_bind is not None else None
    if master is not None and master[0] not in ("0.0.0.0", "::"):
        remote.check_listen(master[0], "--master-bind")
    address = remote.check_listen(listen) if listen is not None else None
    check_listen_target(scenario, address)
    if ui is None:
        mode = loadgen.LoadMode(workers=workers, master_host=master[0] if master else "127.0.0.1",
                                master_port=master[1] if master else 0, expect_workers=expect_workers,
                                workers_timeout_s=workers_timeout_s)  # fmt: skip
    else:
        mode = ui
    remote.check_remote(scenario, mode.workers, mode.expect_workers or mode.workers, master_bind)
    if dry_run:
        target = scenario.target  # an external provider behind a proxy: its discovery is read (one GET)
        reads = isinstance(target, ExternalTarget) and scenario.proxy.kind != "none"
        provider = read_provider(target) if isinstance(target, ExternalTarget) and reads else None
        print(describe_plan(scenario, provider, address, load_processes=max(1, mode.expected)))
        print("\n".join(remote.describe(mode.workers, mode.expected, master, mode.workers_timeout_s, address)))
        return 0
    return Run(scenario, Path(path), Path(out), mode, duration_scale, console, address).execute()


def check_listen_target(scenario: Scenario, listen: str | None) -> None:
    """--listen moves our own services: there must be one that remote workers can reach there."""
    if listen is None:
        return
    if isinstance(scenario.target, ExternalTarget) and scenario.proxy.kind == "none":
        raise InputError(f"--listen {listen}: an external provider without a proxy is reached at its issuer; nothing "
                         "of ours listens (with proxy: {kind: embedded} its proxies listen there)")  # fmt: skip
    if getattr(scenario.target, "netns", False) and scenario.proxy.kind == "none":
        raise InputError(f"--listen {listen}: with target.netns the target is reached through the proxy; "
                         "drop proxy: {kind: none}")  # fmt: skip


def clean_leftovers(out: str | Path | None = None) -> int:
    """`harness cleanup`: undo what crashed runs left behind (processes, proxies on a shared Toxiproxy),
    anywhere; with `out`, also runs of older versions, which registered in `<out>/.active`."""
    said = ActiveRuns().clean() + (ActiveRuns.legacy(Path(out)).clean() if out is not None else [])
    print("\n".join(said) if said else "harness: nothing left behind by earlier runs")
    return 0


def check_external_target(scenario: Scenario) -> None:
    """What an external provider needs from the environment before anything starts (the model already
    checked the hosts, the CA bundle and `resolve`): its client credentials, and a users file that reads."""
    target = scenario.target
    if not isinstance(target, ExternalTarget):
        return
    missing = [name for name in (target.client_id_env, target.client_secret_env) if not os.environ.get(name)]
    if missing:
        raise InputError(f"{scenario.name}: set the environment variables {', '.join(missing)} (target credentials)")
    users_file = os.environ.get(target.users_file_env)
    if users_file:
        try:
            read_users_file(users_file)
        except UsersFileError as exc:
            raise InputError(f"{target.users_file_env}: {exc}") from None
