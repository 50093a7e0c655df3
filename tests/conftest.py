"""Session hooks: the background soak of tests/e2e/test_soak.py (tests/soak_support.py says why)."""

from __future__ import annotations

import pytest

from tests.soak_support import SOAK_MODULE, BackgroundSoak

SOAK_KEY = pytest.StashKey[BackgroundSoak]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak's test last, so the soak has had the whole session to run."""
    items.sort(key=lambda item: item.nodeid.startswith(SOAK_MODULE))  # stable: the others keep their order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the soak once collection has selected its test (after -m and -k), before the first test runs."""
    if any(item.nodeid.startswith(SOAK_MODULE) for item in session.items) and not session.config.option.collectonly:
        session.config.stash[SOAK_KEY] = BackgroundSoak.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    soak = session.config.stash.get(SOAK_KEY, None)
    if soak is not None:
        soak.stop()


@pytest.fixture(scope="session")
def background_soak(pytestconfig: pytest.Config) -> BackgroundSoak:
    """The soak started at collection (or now, when the hooks did not see its test selected)."""
    soak = pytestconfig.stash.get(SOAK_KEY, None)
    if soak is None:
        soak = pytestconfig.stash[SOAK_KEY] = BackgroundSoak.start()
    return soak
