"""Session hooks: the background soak of tests/e2e/test_soak.py (tests/soak_support.py says why and how),
and the property tests' profile.

In one pytest process the soak starts when collection has selected its test; under pytest-xdist the
controller starts it when the first worker reports a collection with that test (the workers only read
`soak.json`, in a directory the controller hands each of them in its `workerinput`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.soak_support import SOAK_MODULE, Launched, Soak, remove

# Property tests draw the same examples on every run of `make test` (seeded from each test), so a red CI
# is a regression to fix, reproducible anywhere, and never a draw; `HYPOTHESIS_PROFILE=explore make test`
# draws new examples, to look for what they have not found yet (a find becomes an explicit test).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

SOAK_ROOT = pytest.StashKey[Path]()
SOAK_STARTED = pytest.StashKey[Launched]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if not _is_worker(config):
        config.stash[SOAK_ROOT] = Path(tempfile.mkdtemp(prefix="harness-soak-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    launched = config.stash.get(SOAK_STARTED, None)
    if launched is not None:
        launched.stop()
    root = config.stash.get(SOAK_ROOT, None)
    if root is not None:
        remove(root)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller, for each worker before it starts: where the soak's state will be."""
    node.workerinput["soak_root"] = str(node.config.stash[SOAK_ROOT])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    _start_if_selected(node.config, ids)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak's test last, so the soak has had the whole session to run."""
    items.sort(key=lambda item: item.nodeid.startswith(SOAK_MODULE))  # stable: the others keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    if not _is_worker(session.config):  # one process; under xdist the controller hears of collections above
        _start_if_selected(session.config, [item.nodeid for item in session.items])


def _start_if_selected(config: pytest.Config, ids: list[str]) -> None:
    """Start the soak once collection has selected its test (after -m and -k), before the first test runs."""
    if SOAK_STARTED in config.stash or config.option.collectonly:
        return
    if any(nodeid.startswith(SOAK_MODULE) for nodeid in ids):
        config.stash[SOAK_STARTED] = Launched(config.stash[SOAK_ROOT])


@pytest.fixture(scope="session")
def background_soak(pytestconfig: pytest.Config) -> Soak:
    """The soak started at collection (its state appears within seconds of the session's start)."""
    worker: dict[str, Any] | None = getattr(pytestconfig, "workerinput", None)
    root = Path(worker["soak_root"]) if worker is not None else pytestconfig.stash[SOAK_ROOT]
    soak = Soak.read(root)
    if soak is None:
        pytest.fail(f"the background soak was not started at collection (no state in {root})")
    return soak
