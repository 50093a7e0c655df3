"""The plugin registry (harness/plugins.py): entry points found without importing, a plugin that does not
load named with its package (exit 2), names two packages claim, and every kind's protocol checked."""

from __future__ import annotations

import pytest

from harness import plugins
from harness.errors import EXIT_BAD_INPUT, ScenarioError
from harness.faults import FAULT_TYPES, types_on
from harness.probes import probe_types
from harness.scenario import load_scenario_text
from harness.scenario.schema import scenario_json_schema
from tests.plugin_support import PACKAGE, registry_with

BROKEN = "tests.unit.plugins.broken_plugin:Anything"
SCENARIO = """
name: with-plugins
flows:
  - {flow: testplugin_checkout, weight: 2}
  - {flow: "harness_testplugin.journeys:Checkout", name: checkout-by-reference}
phases:
  - {name: baseline, duration_s: 5}
  - name: maintenance
    duration_s: 5
    faults: [{type: testplugin_flag, path: /tmp/flag}]
probes:
  - {name: flag, type: testplugin_flag_absent, path: /tmp/flag, every_s: 1}
stop_conditions:
  - {probe: flag, failures: 2}
"""


def test_the_builtins_are_entry_points_of_ours() -> None:
    registry = plugins.registry()
    builtins: list[tuple[plugins.Kind, str]] = [
        ("flows", "client_credentials"),
        ("faults", "http_error"),
        ("probes", "prometheus"),
    ]
    for kind, some in builtins:
        entries = {e.name: e for e in registry.entries(kind)}
        assert entries[some].builtin and entries[some].package == plugins.OURS


def test_a_scenario_uses_a_plugins_flow_fault_and_probe() -> None:
    with registry_with():
        scenario = load_scenario_text(SCENARIO, "with-plugins.yaml")
        fault = scenario.phases[1].faults[0]
        assert type(fault).__name__ == "FlagFault" and fault.channel == "plugin"
        assert "testplugin_flag" in FAULT_TYPES and "testplugin_flag" in types_on("plugin")
        assert type(scenario.probes[0]).__name__ == "FlagAbsentProbe"
        assert [f.label for f in scenario.flows] == ["testplugin_checkout", "checkout-by-reference"]
        assert scenario.stop_conditions[0].label == "probe flag failed 2 times in a row"


def test_without_the_plugin_its_types_are_unknown_and_the_error_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(SCENARIO, "with-plugins.yaml")
    text = str(info.value)
    assert "with-plugins.yaml:4: flows.0.flow: expected 'authorization_code_pkce'" in text
    assert "or a module:Class reference (got 'testplugin_checkout')" in text
    assert "cannot import harness_testplugin.journeys:Checkout: ModuleNotFoundError" in text
    assert "with-plugins.yaml:10: phases.1.faults.0: unknown type 'testplugin_flag'" in text
    assert "with-plugins.yaml:12: probes.0: unknown type 'testplugin_flag_absent' (known: 'command', 'http'" in text


def test_validation_errors_list_the_plugins_types_too() -> None:
    with registry_with(), pytest.raises(ScenarioError) as info:
        load_scenario_text(SCENARIO.replace("testplugin_flag,", "testplugin_flg,"), "typo.yaml")
    assert "unknown type 'testplugin_flg'; did you mean 'testplugin_flag'?" in str(info.value)
    assert "'testplugin_flag'" in str(info.value).split("known: ")[1]


def test_a_plugin_that_fails_to_import_is_named_with_its_package() -> None:
    with registry_with({"harness.faults": {"broken_fault": BROKEN}}, package="acme-chaos"):
        with pytest.raises(plugins.PluginError) as info:
            load_scenario_text(SCENARIO, "with-plugins.yaml")
        assert info.value.exit_code == EXIT_BAD_INPUT
        message = str(info.value)
        assert f"fault 'broken_fault' ({BROKEN}) from package acme-chaos 0.1.0" in message
        assert "ImportError: this plugin needs a library that is not installed" in message
        assert "fix or uninstall acme-chaos" in message
        with pytest.raises(plugins.PluginError, match="broken_fault"):
            plugins.check_all()


def test_reading_the_names_imports_nothing() -> None:
    with registry_with({"harness.flows": {"broken_flow": BROKEN}}, package="acme-chaos") as registry:
        assert "broken_flow" in registry.names("flows")  # metadata only: the module was not imported
        assert [f.entry.name for f in registry.failures("flows")] == ["broken_flow"]


def test_a_name_two_packages_register_is_refused() -> None:
    clash = {"harness.probes": {"http": "harness_testplugin.probes:FlagAbsentProbe"}}
    with registry_with(clash, package="acme"), pytest.raises(plugins.PluginError) as info:
        probe_types()
    assert "probe 'http'" in str(info.value) and "already registered by package sso-resilience" in str(info.value)


def test_each_kind_checks_its_protocol() -> None:
    wrong = {
        "harness.faults": {
            "not_a_fault": "harness_testplugin.probes:FlagAbsentProbe",
            "misnamed": "harness_testplugin.faults:FlagFault",
        }
    }
    with registry_with(wrong, package="acme"), pytest.raises(plugins.PluginError) as info:
        FAULT_TYPES["testplugin_flag"]
    message = str(info.value)
    assert "fault 'not_a_fault'" in message and "not a fault model" in message
    assert "fault 'misnamed'" in message and "its type is 'testplugin_flag', not the entry point's name" in message


def test_the_json_schema_has_the_plugins_types_and_the_builtin_one_does_not() -> None:
    with registry_with():
        installed, builtin = scenario_json_schema(), scenario_json_schema(builtin=True)
        assert "FlagFault" in installed["$defs"] and "FlagAbsentProbe" in installed["$defs"]  # type: ignore[operator]
        assert "FlagFault" not in builtin["$defs"]  # type: ignore[operator]
        flow = installed["$defs"]["FlowWeight"]["properties"]["flow"]  # type: ignore[index]
        assert "testplugin_checkout" in flow["anyOf"][0]["enum"]


def test_the_fixture_plugin_is_a_package_of_its_own() -> None:
    with registry_with() as registry:
        entries = {e.name: e for e in registry.entries("faults")}
        assert entries["testplugin_flag"].package == PACKAGE and not entries["testplugin_flag"].builtin


METRICS = "tests.unit.plugins.metric_plugins"
SLO_SCENARIO = """
name: with-metric
phases:
  - {name: baseline, duration_s: 5}
slos:
  - {name: verified, metric: testplugin_verify_ok, scope: operation, at_least: 0.9}
"""


def test_an_slo_names_a_plugins_metric_and_its_bounds_and_scope_are_checked_at_their_line() -> None:
    with registry_with({"harness.metrics": {"worst_second": f"{METRICS}:WorstSecond"}}):
        assert load_scenario_text(SLO_SCENARIO, "m.yaml").slos[0].metric == "testplugin_verify_ok"
        with pytest.raises(ScenarioError) as info:
            load_scenario_text(SLO_SCENARIO.replace("0.9", "95"), "m.yaml")
        assert "m.yaml:6: slos.0.at_least: testplugin_verify_ok is a share from 0 to 1 (95% is 0.95)" in str(info.value)
        attempts = SLO_SCENARIO.replace("testplugin_verify_ok, scope: operation", "worst_second, scope: attempt")
        with pytest.raises(ScenarioError) as info:
            load_scenario_text(attempts, "m.yaml")
        assert "m.yaml:6: slos.0.scope: metric worst_second measures operation records, not attempt" in str(info.value)
        with pytest.raises(ScenarioError) as info:
            load_scenario_text(SLO_SCENARIO.replace("verify_ok", "verify_okay"), "m.yaml")
        message = str(info.value)
        assert "m.yaml:6: slos.0.metric: expected 'availability'" in message and "'worst_second'" in message
        assert "did you mean 'testplugin_verify_ok'?" in message
    with pytest.raises(ScenarioError, match=r"slos\.0\.metric: expected 'availability'"):  # not installed: unknown
        load_scenario_text(SLO_SCENARIO, "m.yaml")


def test_a_metric_plugin_that_is_not_a_usable_metric_is_refused_naming_it_and_its_package() -> None:
    bad = {
        "no_measure": f"{METRICS}:NoMeasure",
        "bad_scopes": f"{METRICS}:BadScopes",
        "bad_column": f"{METRICS}:BadColumn",
        "not_a_class": f"{METRICS}:NOT_A_CLASS",
        "availability": f"{METRICS}:FailedShare",
        "broken_metric": BROKEN,
    }
    with registry_with({"harness.metrics": bad}, package="acme-metrics"), pytest.raises(plugins.PluginError) as info:
        load_scenario_text(SLO_SCENARIO, "m.yaml")
    assert info.value.exit_code == EXIT_BAD_INPUT
    said = {f.entry.name: f.error for f in info.value.failures}
    assert set(said) == set(bad)
    assert "does not define measure(records)" in said["no_measure"]
    assert "scopes is ('request',); give a tuple of 'attempt' and/or 'operation'" in said["bad_scopes"]
    assert said["bad_column"].startswith("its query does not run on attempt records: Binder Error")
    assert "latency_us" in said["bad_column"]
    assert "not a metric (a subclass of harness.analysis.plugin_metrics.PluginMetric" in said["not_a_class"]
    assert "'availability' is one of the harness's own metrics" in said["availability"]
    assert "ImportError: this plugin needs a library that is not installed" in said["broken_metric"]
    assert "metric 'bad_column' (tests.unit.plugins.metric_plugins:BadColumn) from package acme-metrics 0.1.0" in (
        str(info.value))
    assert "fix or uninstall acme-metrics" in str(info.value)


def test_the_json_schema_lists_the_plugins_metrics() -> None:
    with registry_with():
        installed, builtin = scenario_json_schema(), scenario_json_schema(builtin=True)
    metric = installed["$defs"]["Slo"]["properties"]["metric"]  # type: ignore[index]
    assert metric["enum"][-1] == "testplugin_verify_ok" and "availability" in metric["enum"]
    assert "testplugin_verify_ok" not in builtin["$defs"]["Slo"]["properties"]["metric"]["enum"]  # type: ignore[index]
