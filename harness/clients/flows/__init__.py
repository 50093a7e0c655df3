"""SSO journeys (the scenario's `flows:`), one module per flow, each a `harness.flows` entry point under
its wire name (pyproject.toml), as a plugin's flows are; a scenario may also name a Flow subclass of its
own by reference (`flow: mypkg.journeys:Checkout`). `flow_class` finds either.

`build_flows` gives one simulated user its flows, sharing one FlowContext (one discovery, one JWKS cache
per flow kind). Credentials come from the environment (the embedded target's seeded client by the
runtime, an external provider's by the variables the scenario names); they never enter a record.

Identities on the embedded target: with `HARNESS_USER_COUNT=N` (the target's `--seed-users N`; the width
of the seeded names depends on it) simulated user `i` signs in as seeded user `i mod N + 1` with the
target's password rule, so N users spread over N identities (sessions, refresh-token families and device
approvals are per identity, as in production). Without it every user signs in as HARNESS_USERNAME.
On an external provider, the users file the scenario names plays that part (harness.clients.users).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from typing import Any

from harness import plugins
from harness.clients.caller import Caller
from harness.clients.flows.authorization_code_pkce import AuthorizationCodePkceFlow
from harness.clients.flows.aws_credentials_refresh import AwsCredentialsRefreshFlow
from harness.clients.flows.aws_device_login import AwsDeviceLoginFlow
from harness.clients.flows.base import Flow, FlowContext
from harness.clients.flows.client_credentials import ClientCredentialsFlow
from harness.clients.flows.device_authorization import DeviceAuthorizationFlow
from harness.clients.flows.jwks_validation import JwksValidationFlow
from harness.clients.flows.refresh_token import RefreshTokenFlow
from harness.clients.flows.revocation import RevocationFlow
from harness.clients.flows.token_introspection import TokenIntrospectionFlow
from harness.clients.oauth import ClientCredentials, UserCredentials, token_response_problem
from harness.clients.provider import Provider
from harness.clients.users import read_users_file
from harness.contract import Env, seeded_password, seeded_username
from harness.errors import InputError
from harness.scenario.model import ExternalTarget, Scenario


def _check(name: str, obj: Any) -> str | None:
    if not (isinstance(obj, type) and issubclass(obj, Flow)):
        return "not a flow (a subclass of harness.clients.flows.Flow)"
    return None


def flow_classes() -> dict[str, type[Flow]]:
    """name -> class of every registered flow (ours and plugins'); PluginError when one did not load."""
    return dict(plugins.registry().load("flows", _check))


def flow_class(flow: str) -> type[Flow]:
    """The class a scenario's `flow:` names: a registered flow, or a `module:Class` reference."""
    if plugins.REFERENCE.match(flow):
        obj = plugins.import_reference(flow)
        problem = _check(flow, obj)
        if problem is not None:
            raise InputError(f"flow {flow}: {problem}")
        cls: type[Flow] = obj
        return cls
    return flow_classes()[flow]


def flow_context(
    scenario: Scenario,
    caller: Caller,
    base_url: str,
    credentials: ClientCredentials,
    environ: Mapping[str, str] = os.environ,
    rng: random.Random | None = None,
    user_index: int | None = None,
) -> FlowContext:
    target = scenario.target
    rng = rng or random.Random()
    lax = frozenset(scenario.testing.lax_relying_party) if scenario.testing is not None else frozenset()
    if isinstance(target, ExternalTarget):
        return FlowContext(
            caller,
            Provider.external(target.issuer, target.allow, target.aws_endpoint),
            ClientCredentials(environ.get(target.client_id_env, ""), environ.get(target.client_secret_env, "")),
            external_user(target, environ, rng, user_index),
            scope=target.scope,
            audience=target.audience,
            redirect_uri=target.redirect_uri,
            aws_start_url=target.aws_start_url,
            rng=rng,
            lax=lax,
        )
    user = embedded_user(environ, rng, user_index)
    return FlowContext(caller, Provider.embedded(base_url), credentials, user, rng=rng, lax=lax)


def external_user(
    target: ExternalTarget, environ: Mapping[str, str], rng: random.Random, user_index: int | None
) -> UserCredentials:
    """Line `user_index mod N` of the users file when the scenario's variable names one, else the single
    user of `username_env`/`password_env`."""
    path = environ.get(target.users_file_env)
    if not path:
        return UserCredentials(environ.get(target.username_env, ""), environ.get(target.password_env, ""))
    users = read_users_file(path)
    return users[user_index % len(users) if user_index is not None else rng.randrange(len(users))]


def embedded_user(environ: Mapping[str, str], rng: random.Random, user_index: int | None) -> UserCredentials:
    """The seeded identity this simulated user signs in as (see the module docstring). Without an index
    the user's own RNG picks one, so a seeded run still picks the same identities."""
    try:
        count = int(environ.get(Env.USER_COUNT, "0"))
    except ValueError:
        count = 0
    if count < 1:
        return UserCredentials(environ.get(Env.USERNAME, ""), environ.get(Env.PASSWORD, ""))
    index = user_index % count if user_index is not None else rng.randrange(count)
    name = seeded_username(index + 1, count)
    return UserCredentials(name, seeded_password(name))


def credential_variables(scenario: Scenario) -> tuple[str, ...]:
    """The environment variables holding what a load process needs and must never be sent it: the same
    names on every machine (a remote worker reads them from its own environment)."""
    target = scenario.target
    if isinstance(target, ExternalTarget):
        return (target.client_id_env, target.client_secret_env)
    return (Env.CLIENT_SECRET,)


def build_flows(
    scenario: Scenario,
    caller: Caller,
    base_url: str,
    credentials: ClientCredentials,
    environ: Mapping[str, str] = os.environ,
    rng: random.Random | None = None,
    user_index: int | None = None,
) -> list[Flow]:
    """One instance of each of the scenario's flows for one simulated user, in `scenario.flows` order;
    `user_index` (the user's number in its load process) picks its identity on the embedded target."""
    ctx = flow_context(scenario, caller, base_url, credentials, environ, rng, user_index)
    flows: list[Flow] = []
    for weighted in scenario.flows:
        if weighted.flow == JwksValidationFlow.name:
            flows.append(JwksValidationFlow(ctx, weighted.label, leeway_s=weighted.leeway_s))
        else:
            flows.append(flow_class(weighted.flow)(ctx, weighted.label))
    return flows


__all__ = [
    "AuthorizationCodePkceFlow",
    "AwsCredentialsRefreshFlow",
    "AwsDeviceLoginFlow",
    "ClientCredentials",
    "ClientCredentialsFlow",
    "DeviceAuthorizationFlow",
    "Flow",
    "FlowContext",
    "JwksValidationFlow",
    "RefreshTokenFlow",
    "RevocationFlow",
    "TokenIntrospectionFlow",
    "UserCredentials",
    "build_flows",
    "credential_variables",
    "embedded_user",
    "external_user",
    "flow_class",
    "flow_classes",
    "flow_context",
    "token_response_problem",
]
