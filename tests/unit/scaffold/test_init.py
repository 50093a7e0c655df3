"""`harness init` (harness/scaffold): each question's starter is a valid scenario as written (its
parameters have defaults); the plugin skeleton's files declare the entry points its modules define, and its
scenario validates once the plugin is registered; nothing is ever overwritten; a bad name is refused."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from harness.errors import EXIT_BAD_INPUT, InputError
from harness.scaffold import QUESTIONS, starter, write_plugin, write_starter
from harness.scenario import load_scenario, load_scenario_text
from tests.plugin_support import registry_with


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_starter_is_a_valid_scenario_with_a_question(question: str) -> None:
    scenario = load_scenario_text(starter(question), f"{question}.yaml", environ={})
    assert scenario.question and scenario.phases


def test_a_starter_is_written_once(tmp_path: Path) -> None:
    out = write_starter("brownout", tmp_path / "brownout.yaml")
    assert load_scenario(out, environ={}).name
    with pytest.raises(InputError, match="not overwriting") as info:
        write_starter("brownout", out)
    assert info.value.exit_code == EXIT_BAD_INPUT
    with pytest.raises(InputError, match="no starter for 'chaos'"):
        starter("chaos")


def test_the_skeletons_entry_points_name_what_its_modules_define(tmp_path: Path) -> None:
    written = write_plugin("acme_sso", tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "pyproject.toml", "README.md", "scenario.yaml", "acme_sso/__init__.py", "acme_sso/journeys.py",
        "acme_sso/faults.py", "acme_sso/probes.py", "acme_sso/metrics.py"}  # fmt: skip
    entries = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entries["harness.faults"] == {"acme_sso_maintenance": "acme_sso.faults:MaintenanceFault"}
    assert set(entries) == {"harness.flows", "harness.faults", "harness.probes", "harness.metrics"}
    extra = {group: dict(names) for group, names in entries.items()}
    sys.path.insert(0, str(tmp_path))
    try:
        with registry_with(extra, package="acme_sso", fixture=False):
            scenario = load_scenario(tmp_path / "scenario.yaml", environ={})
            assert [f.flow for f in scenario.flows] == ["acme_sso_checkout", "client_credentials"]
            assert scenario.phases[1].faults[0].type == "acme_sso_maintenance"
            assert scenario.probes[0].type == "acme_sso_not_in_maintenance"
            assert scenario.slos[-1].metric == "acme_sso_slowest_second_p95_ms"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "acme_sso"]:
            del sys.modules[name]


def test_the_skeleton_is_never_written_over_and_needs_a_package_name(tmp_path: Path) -> None:
    write_plugin("acme_sso", tmp_path)
    with pytest.raises(InputError, match="not overwriting"):
        write_plugin("acme_sso", tmp_path)
    for bad in ("Acme", "acme-sso", "1acme", ""):
        with pytest.raises(InputError, match="is not a package name"):
            write_plugin(bad, tmp_path / "other")
