"""A remote worker's copy of the run from the master's setup (harness.load.runcopy.prepare_run): the origin
map and the run's CA certificate come with it (issue 15's TLS hops and proxied origins), the CA lands
beside the run copy, never in it (only records go home), and a provider CA bundle missing on the worker
is a refusal that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import Env, OriginRoute, WorkerSetup
from harness.load.runcopy import prepare_run
from harness.scenario.catalog import resolved_yaml
from harness.scenario.model import Scenario

PHASES = [{"name": "p", "duration_s": 1}]
CA = "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"


def setup_of(scenario: Scenario, **more: object) -> WorkerSetup:
    setup: WorkerSetup = {
        "run_id": "20261205T000000Z-s", "scenario_yaml": resolved_yaml(scenario), "base_url": "https://10.0.0.5:4001",
        "target_url": "https://10.0.0.5:4000", "client_id": "harness-load", "seed": 3, "user_count": 0,
        "phase": "p", "started_at": None, "origins": [], "endpoints": {}, "ca_pem": None,
    }  # fmt: skip
    return setup | more  # type: ignore[return-value]


def test_the_origin_map_and_the_runs_ca_come_with_the_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(Env.CLIENT_SECRET, "s")
    scenario = Scenario.model_validate({"name": "s", "phases": PHASES, "target": {"kind": "embedded", "tls": True}})
    route = OriginRoute(origin="https://10.0.0.5:4001", upstream="10.0.0.5:4000", listen="10.0.0.5:4001",
                        proxy_name="sso", tls=True)  # fmt: skip
    prepared = prepare_run(setup_of(scenario, origins=[route.model_dump()], ca_pem=CA), tmp_path, "far")
    assert not isinstance(prepared, str)
    runtime, _ = prepared
    assert runtime.origins == (route,) and runtime.seed == 3
    assert runtime.ca_file is not None and Path(runtime.ca_file).read_text() == CA
    run_dir = Path(runtime.run_dir)
    assert run_dir == (tmp_path / "20261205T000000Z-s-far").resolve()
    assert not Path(runtime.ca_file).is_relative_to(run_dir)  # only records go home; the CA stays out


def test_a_provider_ca_bundle_missing_here_is_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_ID", "i")
    monkeypatch.setenv("IDP_SECRET", "s")
    bundle = tmp_path / "corp.pem"
    bundle.write_text(CA)
    target = {"kind": "external", "issuer": "https://idp.example.com", "allow": ["idp.example.com"],
              "client_id_env": "IDP_ID", "client_secret_env": "IDP_SECRET", "ca_bundle": str(bundle)}
    scenario = Scenario.model_validate({"name": "x", "phases": PHASES, "target": target,
                                        "flows": [{"flow": "client_credentials"}]})  # fmt: skip
    assert not isinstance(prepare_run(setup_of(scenario), tmp_path / "w", "far"), str)
    bundle.unlink()  # the master has it, this worker does not
    refused = prepare_run(setup_of(scenario), tmp_path / "w2", "far")
    assert isinstance(refused, str) and "does not load here" in refused and "ca_bundle" in refused
