"""An external target's reach: load goes only to loopback and to hosts the scenario allows. AWS flows need
their endpoint allowed explicitly; discovered endpoints on other hosts are dropped, so nothing is sent."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
import requests

from harness.clients import Caller, RetryPolicy
from harness.clients.flows import AwsDeviceLoginFlow, ClientCredentials, ClientCredentialsFlow, flow_context
from harness.errors import ScenarioError
from harness.scenario import load_scenario_text
from harness.scenario.model import Retry
from tests.unit.clients.fakes import FakeTime, ListSink, Step, scripted_session

EXTERNAL = """name: ext
target:
  kind: external
  issuer: https://idp.example.com
  allow: [{allow}]
  aws_endpoint: https://sso.example.com
proxy: {{kind: none}}
flows: [{{flow: aws_device_login}}, {{flow: client_credentials}}]
phases: [{{name: a, duration_s: 1}}]
"""
ENV = {"HARNESS_CLIENT_ID": "svc", "HARNESS_CLIENT_SECRET": "s3cr3t-value-x"}


def make_caller(script: Sequence[Step]) -> tuple[Caller, ListSink, list[requests.PreparedRequest]]:
    session, adapter = scripted_session(script)
    session.mount("https://", adapter)
    sink, fake = ListSink(), FakeTime()
    caller = Caller(session, RetryPolicy(Retry()), sink, user="u1", node="local", phase=lambda: "a",
                    clock=fake.clock, perf=fake.clock, sleep=fake.sleep)
    return caller, sink, adapter.requests


def test_an_aws_endpoint_not_in_allow_is_refused_before_anything_runs() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(EXTERNAL.format(allow="idp.example.com"), "ext.yaml")
    (problem,) = info.value.problems
    assert problem.path == "target.aws_endpoint" and "sso.example.com is not loopback" in str(problem)


def test_an_allowed_aws_endpoint_is_where_aws_flows_go() -> None:
    scenario = load_scenario_text(EXTERNAL.format(allow="idp.example.com, sso.example.com"), "ext.yaml")
    caller, _, _ = make_caller([])
    ctx = flow_context(scenario, caller, "http://127.0.0.1:9", ClientCredentials("x", "y"), ENV)
    assert ctx.provider.aws_url("register_client") == "https://sso.example.com/client/register"
    assert isinstance(AwsDeviceLoginFlow(ctx), AwsDeviceLoginFlow)


def test_discovered_endpoints_on_hosts_not_allowed_are_never_called() -> None:
    scenario = load_scenario_text(EXTERNAL.format(allow="idp.example.com, sso.example.com"), "ext.yaml")
    discovery = {"issuer": "https://idp.example.com", "token_endpoint": "https://elsewhere.example.net/token",
                 "jwks_uri": "https://idp.example.com/jwks"}
    caller, sink, sent = make_caller([(200, {}, json.dumps(discovery).encode())])
    ctx = flow_context(scenario, caller, "http://127.0.0.1:9", ClientCredentials("x", "y"), ENV)
    assert not ClientCredentialsFlow(ctx).run()
    assert [r.url for r in sent] == ["https://idp.example.com/.well-known/openid-configuration"]
    assert ctx.provider.url("token") is None and ctx.provider.url("jwks") == "https://idp.example.com/jwks"
    assert sink.operations[-1]["outcome"] == "protocol_error"  # the journey: no token endpoint to use
