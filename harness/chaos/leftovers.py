"""Namespaces left by crashed runs: each run writes an owner file (its orchestrator's PID and start time)
before it creates its namespace; a later run removes every `harness-*` namespace whose owner is gone,
with the veth named after it. Namespaces of runs still going are left alone."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from harness.chaos.netns import NETNS_PREFIX, Link, Runner, delete_commands, netns_names, run_command
from harness.chaos.procs import process_start_ticks, same_process

OWNER_DIR = Path("/run/harness/netns")


def claim(link: Link, run_id: str, owner_dir: Path = OWNER_DIR) -> Path:
    owner_dir.mkdir(parents=True, exist_ok=True)
    path = owner_dir / f"{link.netns}.json"
    pid = os.getpid()
    owner = {"run_id": run_id, "pid": pid, "start_ticks": process_start_ticks(pid), "host_if": link.host_if}
    path.write_text(json.dumps(owner))
    return path


def release(link: Link, owner_dir: Path = OWNER_DIR) -> None:
    with contextlib.suppress(FileNotFoundError):
        (owner_dir / f"{link.netns}.json").unlink()


def sweep(runner: Runner = run_command, owner_dir: Path = OWNER_DIR) -> list[str]:
    """Remove namespaces (and their veth) of runs whose orchestrator is gone; say what was removed."""
    if os.geteuid() != 0:
        return []
    said = []
    for name in netns_names(runner):
        if not name.startswith(NETNS_PREFIX):
            continue
        path = owner_dir / f"{name}.json"
        try:
            owner = json.loads(path.read_text())
        except (OSError, ValueError):
            owner = None
        if owner is not None and same_process(int(owner["pid"]), owner.get("start_ticks")):
            continue  # a run in progress
        host_if = owner["host_if"] if owner else f"hv{name[len(NETNS_PREFIX) :]}h"
        for argv in delete_commands(name, host_if):
            runner(argv)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        run = owner["run_id"] if owner else "unknown run"
        said.append(f"  removed network namespace {name} and veth {host_if} ({run})")
    return said
