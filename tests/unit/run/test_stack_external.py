"""What the run's stack does for an external provider without a proxy: nothing to start, and every secret
it handles on the secret scan's list, the users file's passwords included. No socket (no discovery is
read without a proxy), no process."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.run.journal import Journal
from harness.run.leftovers import ActiveRuns, Registration
from harness.run.stack import Stack
from harness.scenario.model import ExternalTarget, Scenario


def test_the_users_files_passwords_are_on_the_secret_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "users.csv"
    users.write_text("carol,pw-Carol-1\ndave,pw-Dave-2\n")
    monkeypatch.setenv("IDP_USERS", str(users))
    monkeypatch.setenv("IDP_SECRET", "client-Secret-9")
    scenario = Scenario.model_validate({
        "name": "ext", "proxy": {"kind": "none"}, "phases": [{"name": "a", "duration_s": 1}],
        "target": {"kind": "external", "issuer": "http://127.0.0.1:9", "users_file_env": "IDP_USERS",
                   "client_secret_env": "IDP_SECRET"},
    })  # fmt: skip
    run_dir = tmp_path / "run"
    (run_dir / "logs").mkdir(parents=True)
    journal = Journal(run_dir / "journal.json", "run", {"name": "ext"})
    stack = Stack(scenario, run_dir, journal, ActiveRuns(tmp_path), Registration("run", str(run_dir)))
    assert isinstance(scenario.target, ExternalTarget)
    runtime = stack.start()
    assert {"pw-Carol-1", "pw-Dave-2", "client-Secret-9"} <= set(stack.secret_values)
    assert runtime.origins == () and runtime.base_url == "http://127.0.0.1:9"
    assert not any(users.name in p.name for p in run_dir.rglob("*"))
    stack.stop()
