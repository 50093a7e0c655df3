"""The origin map of an external provider, planned from its discovery document (no socket: the document is
given): one proxy per allowed origin, `resolve` applied to its upstream, the rest left out by name."""

from __future__ import annotations

from typing import Any

from harness.run.origins import provider_map
from harness.run.plan import describe_plan
from harness.scenario.model import ExternalTarget, Scenario

KEYCLOAK = "https://kc.example.com/realms/x"


def target(**extra: Any) -> ExternalTarget:
    return ExternalTarget.model_validate({"kind": "external", "issuer": KEYCLOAK, "allow": ["kc.example.com"],
                                          **extra})


def discovery(**extra: str) -> dict[str, str]:
    base = f"{KEYCLOAK}/protocol/openid-connect"
    return {"issuer": KEYCLOAK, "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/certs",
            "authorization_endpoint": f"{base}/auth", "userinfo_endpoint": f"{base}/userinfo", **extra}


def test_one_origin_for_a_provider_on_one_host_with_the_paths_discovery_gave() -> None:
    found = provider_map(target(), discovery())
    (origin,) = found.origins
    assert origin.url == "https://kc.example.com:443" and origin.upstream == ("kc.example.com", 443)
    assert origin.tls and origin.server_name == "kc.example.com"
    assert set(origin.endpoints) == {"discovery", "token", "jwks", "authorize", "userinfo"}
    assert found.path("token") == "/realms/x/protocol/openid-connect/token"
    assert found.path("discovery") == "/realms/x/.well-known/openid-configuration"


def test_a_second_allowed_host_is_a_second_origin_and_resolve_names_the_upstream() -> None:
    t = target(allow=["kc.example.com", "keys.example.com"], resolve={"kc.example.com": "10.0.0.5"})
    found = provider_map(t, discovery(jwks_uri="https://keys.example.com:8443/certs"))
    assert [(o.url, o.upstream) for o in found.origins] == [
        ("https://kc.example.com:443", ("10.0.0.5", 443)),
        ("https://keys.example.com:8443", ("keys.example.com", 8443)),
    ]
    assert found.origins[1].endpoints == ("jwks",)


def test_a_url_on_a_host_outside_allow_is_neither_an_origin_nor_an_endpoint() -> None:
    found = provider_map(target(), discovery(userinfo_endpoint="https://elsewhere.example.net/me"))
    assert found.outside == {"userinfo": "https://elsewhere.example.net/me"}
    assert "userinfo" not in found.endpoints
    assert [o.url for o in found.origins] == ["https://kc.example.com:443"]
    assert "userinfo at https://elsewhere.example.net/me: host not in allow, neither proxied nor called" in \
        found.describe()


def test_without_discovery_the_issuers_origin_is_still_planned() -> None:
    found = provider_map(target(), None, "tls_error: SSLError")
    assert [o.url for o in found.origins] == ["https://kc.example.com:443"] and found.error
    assert set(found.endpoints) == {"discovery"}


def test_the_aws_endpoint_is_an_origin_with_the_aws_operations() -> None:
    t = target(allow=["kc.example.com", "sso.example.com"], aws_endpoint="https://sso.example.com")
    found = provider_map(t, discovery())
    aws = found.origins[1]
    assert aws.url == "https://sso.example.com:443" and "role_credentials" in aws.endpoints
    assert found.endpoints["token"].startswith(KEYCLOAK)  # endpoint: token is the OIDC one


def test_the_dry_run_shows_issuer_allow_and_each_proxy() -> None:
    scenario = Scenario.model_validate({
        "name": "x", "target": {"kind": "external", "issuer": KEYCLOAK, "allow": ["kc.example.com"],
                                "resolve": {"kc.example.com": "10.0.0.5"}},
        "phases": [{"name": "a", "duration_s": 1, "faults": [{"type": "http_error", "endpoint": "token"}]}],
    })  # fmt: skip
    assert isinstance(scenario.target, ExternalTarget)
    plan = describe_plan(scenario, provider_map(scenario.target, discovery()))
    assert f"issuer {KEYCLOAK}" in plan and "allow: kc.example.com" in plan
    assert "proxy 127.0.0.1:<a free port at start> -> upstream 10.0.0.5:443, TLS at both ends (SNI kc.example.com)" \
        in plan
    assert '"path": "/realms/x/protocol/openid-connect/token"' in plan
