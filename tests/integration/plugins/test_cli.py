"""Bad plugin input at the command line, with the plugins pip-installed as a user installs them (into a
directory of their own on the subprocesses' PYTHONPATH): a plugin package that fails to import stops
`harness run` before anything starts, named with its package; a scenario's mistakes in a plugin's
attributes, flow reference or an override are named by file, line and field; every one exits 2."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import harness_argv
from tests.plugin_support import FIXTURE, install, plugin_env

SCENARIO = """\
name: plugin-cli
proxy: {kind: none}
flows:
  - {flow: testplugin_checkout}
  - {flow: "harness_testplugin.journeys:Checkout", name: by-reference}
phases:
  - {name: baseline, duration_s: 1}
  - name: maintenance
    duration_s: 1
    faults: [{type: testplugin_flag, path: /nonexistent/flag}]
probes:
  - {name: flag, type: testplugin_flag_absent, path: /nonexistent/flag, every_s: 1}
slos:
  - {name: verified, metric: testplugin_verify_ok, flows: [testplugin_checkout], at_least: 0.9}
"""
BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"
[project]
name = "acme-broken"
version = "0.2.0"
[project.entry-points."harness.faults"]
acme_outage = "acme_broken.faults:Outage"
[project.entry-points."harness.metrics"]
acme_latency_us = "acme_broken.metrics:Micro"
[tool.setuptools]
packages = ["acme_broken"]
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(FIXTURE, tmp_path_factory.mktemp("plugin-cli") / "site")


def harness(tmp: Path, site: Path, *args: str, extra_sites: tuple[Path, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = plugin_env(site, dict(os.environ))
    for other in extra_sites:
        env = plugin_env(other, env)
    return subprocess.run(harness_argv(*args), cwd=tmp, capture_output=True, text=True, timeout=120, env=env)


def test_a_plugin_that_fails_to_import_stops_the_run_naming_its_package(tmp_path: Path, site: Path) -> None:
    source = tmp_path / "acme-broken"
    (source / "acme_broken").mkdir(parents=True)
    (source / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (source / "acme_broken" / "__init__.py").write_text("")
    (source / "acme_broken" / "faults.py").write_text("import acme_sdk_not_installed\n")
    (source / "acme_broken" / "metrics.py").write_text(  # imports, but its query names a column records lack
        "from harness.analysis.plugin_metrics import SqlMetric\n\n\nclass Micro(SqlMetric):\n"
        "    query = 'SELECT quantile_cont(latency_us, 0.99) FROM records'\n")
    broken = install(source, tmp_path / "broken-site")
    (tmp_path / "s.yaml").write_text(SCENARIO)
    run = harness(tmp_path, site, "run", "s.yaml", "--out", "out", extra_sites=(broken,))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "fault 'acme_outage' (acme_broken.faults:Outage) from package acme-broken 0.2.0" in run.stderr
    assert "No module named 'acme_sdk_not_installed'" in run.stderr and "fix or uninstall acme-broken" in run.stderr
    assert "metric 'acme_latency_us' (acme_broken.metrics:Micro) from package acme-broken 0.2.0: its query does " \
           "not run on attempt records: Binder Error" in run.stderr  # named in the same message as the fault
    assert not (tmp_path / "out").exists()  # nothing started, nothing written
    listed = harness(tmp_path, site, "scenarios", "--plugins", extra_sites=(broken,))
    assert listed.returncode == 2 and "testplugin_flag" in listed.stdout
    assert "acme_outage" in listed.stdout and "FAILED TO LOAD: ModuleNotFoundError" in listed.stdout
    assert "acme_latency_us" in listed.stdout and "FAILED TO LOAD: its query does not run" in listed.stdout


def test_a_plugins_attributes_and_types_are_checked_with_file_line_and_field(tmp_path: Path, site: Path) -> None:
    text = SCENARIO.replace("type: testplugin_flag, path:", "type: testplugin_flag, paht:")
    text = text.replace("type: testplugin_flag_absent", "type: testplugin_flag_gone")
    (tmp_path / "s.yaml").write_text(text.replace("at_least: 0.9", "scope: attempt, at_least: 90"))
    result = harness(tmp_path, site, "validate", "s.yaml")
    assert result.returncode == 2
    said = result.stderr + result.stdout
    assert "s.yaml:10: phases.1.faults.0.paht: unknown field; did you mean path?" in said
    assert "s.yaml:12: probes.0: unknown type 'testplugin_flag_gone'; did you mean 'testplugin_flag_absent'?" in said
    assert "s.yaml:14: slos.0.at_least: testplugin_verify_ok is a share from 0 to 1 (90% is 0.9); got 90" in said
    (tmp_path / "s.yaml").write_text(SCENARIO.replace("testplugin_verify_ok", "testplugin_verify"))
    result = harness(tmp_path, site, "validate", "s.yaml")
    assert result.returncode == 2
    assert "s.yaml:14: slos.0.metric: expected 'availability'" in result.stderr
    assert "did you mean 'testplugin_verify_ok'?" in result.stderr
    listed = harness(tmp_path, site, "scenarios", "--plugins")
    metrics = listed.stdout.partition("\nmetrics:\n")[2]
    assert listed.returncode == 0 and "availability" in metrics and "built-in" in metrics
    assert "testplugin_verify_ok" in metrics and "harness-testplugin 0.1.0" in metrics
    assert "share of checkout_verify steps that succeeded" in metrics  # its description


def test_the_schema_has_the_installed_plugins_types(tmp_path: Path, site: Path) -> None:
    installed = json.loads(harness(tmp_path, site, "schema").stdout)
    assert {"FlagFault", "FlagAbsentProbe"} <= set(installed["$defs"])
    assert "testplugin_checkout" in json.dumps(installed["$defs"]["FlowWeight"])
    assert "testplugin_verify_ok" in installed["$defs"]["Slo"]["properties"]["metric"]["enum"]
    builtin = harness(tmp_path, site, "schema", "--builtin").stdout
    assert builtin == (Path(__file__).resolve().parents[3] / "scenarios" / "schema.json").read_text()


def test_a_flow_reference_that_does_not_import_and_a_bad_override_are_named(tmp_path: Path, site: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO.replace("journeys:Checkout", "journeys:Nope"))
    run = harness(tmp_path, site, "run", "s.yaml", "--out", "out", "--set", "probes.0.every_s=often")
    assert run.returncode == 2 and not (tmp_path / "out").exists()
    assert "s.yaml:5: flows.1.flow: cannot import harness_testplugin.journeys:Nope" in run.stderr
    assert "--set probes.0.every_s=often: probes.0.every_s: input should be a valid number" in run.stderr
