"""The relying-party flows against a target that forges tokens on purpose (its chaos API, one forgery at a
time, every token): each forged token is presented under its own `*_forged_<forgery>` step and refused
(`ok`), the genuine steps stay ok, and a negative control's lax relying party, with the one check that
forgery needs skipped, accepts it: `security_violation`, which `unauthorized_accepted` counts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from harness.clients.caller import JOURNEY_STEP
from harness.clients.flows import AuthorizationCodePkceFlow, ClientCredentialsFlow, Flow, JwksValidationFlow
from harness.contract import Env
from tests.helpers import LOOPBACK, free_port, harness_argv, running_process
from tests.integration.clients.conftest import CLIENT_ID, CLIENT_SECRET, SEED_USERS, Harness, user_context

pytestmark = pytest.mark.integration

ADMIN = "adm-forgery-5Kq8Wz2Lm7Xp"
LAX_FOR = {"wrong_aud": "skip_audience", "wrong_iss": "skip_issuer", "expired": "skip_expiry",
           "wrong_nonce": "skip_nonce", "alg_none": "accept_alg_none", "unknown_key": "trust_header_jwk",
           "jwks_key_swap": "refetch_on_bad_signature"}  # fmt: skip


@pytest.fixture(scope="module")
def target_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp, port = tmp_path_factory.mktemp("forging-target"), free_port()
    argv = harness_argv("target", "--host", LOOPBACK, "--port", str(port), "--db", str(tmp / "t.db"),
                        "--seed-users", str(SEED_USERS))
    env = {Env.CLIENT_ID: CLIENT_ID, Env.CLIENT_SECRET: CLIENT_SECRET, Env.TARGET_ADMIN_TOKEN: ADMIN}
    with running_process(argv, log_dir=tmp / "logs", name="target", env=env,
                         ready_url=f"http://{LOOPBACK}:{port}/healthz"):
        yield f"http://{LOOPBACK}:{port}"


def chaos(url: str, method: str, path: str, body: dict[str, object] | None = None) -> None:
    response = requests.request(method, f"{url}/chaos{path}", json=body, timeout=10,
                                headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.text


@pytest.fixture
def forging(target_url: str) -> Iterator[None]:
    yield
    chaos(target_url, "POST", "/reset")


def outcomes(h: Harness) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for op in h.sink.operations:
        if op["step"] != JOURNEY_STEP:
            seen.setdefault(op["step"], set()).add(op["outcome"])
    return seen


def run_with(target_url: str, kind: str, make: type[Flow], *lax: str) -> dict[str, set[str]]:
    """One journey before the forgery (the relying party learns the genuine keys, as in a baseline), one
    with it on for every token; the outcomes of each step. (A lax relying party may accept the flow's own
    invalid tokens already: skip_audience takes the wrong-audience probe too.)"""
    h = user_context(target_url)
    h.ctx = replace(h.ctx, lax=frozenset(lax))  # type: ignore[arg-type]
    flow = make(h.ctx)
    assert flow.run() or lax, outcomes(h)
    chaos(target_url, "PUT", "/forgery", {"kind": kind, "probability": 1})
    flow.run()
    assert not h.leaked()
    return outcomes(h)


@pytest.mark.parametrize("kind", ["wrong_aud", "wrong_iss", "expired", "unknown_key", "alg_none", "jwks_key_swap"])
def test_a_forged_access_token_is_refused_and_the_lax_check_lets_it_in(target_url: str, forging: None,
                                                                       kind: str) -> None:
    strict = run_with(target_url, kind, JwksValidationFlow)
    assert strict[f"verify_forged_{kind}"] == {"ok"}, strict
    assert strict["verify"] == {"ok"}  # the genuine token, before
    assert all(o == {"ok"} for o in strict.values()), strict
    chaos(target_url, "POST", "/reset")
    lax = run_with(target_url, kind, JwksValidationFlow, LAX_FOR[kind])
    assert lax[f"verify_forged_{kind}"] == {"security_violation"}, lax


def test_a_forged_nonce_is_refused_and_skip_nonce_lets_it_in(target_url: str, forging: None) -> None:
    strict = run_with(target_url, "wrong_nonce", AuthorizationCodePkceFlow)
    assert strict["id_token_forged_wrong_nonce"] == {"ok"} and strict["id_token"] == {"ok"}, strict
    assert "userinfo_forged_wrong_nonce" not in strict  # the login ended at the refused ID token
    chaos(target_url, "POST", "/reset")
    lax = run_with(target_url, "wrong_nonce", AuthorizationCodePkceFlow, "skip_nonce")
    assert lax["id_token_forged_wrong_nonce"] == {"security_violation"}, lax


def test_forged_access_tokens_are_refused_by_the_target_itself(target_url: str, forging: None) -> None:
    """Userinfo and introspection must not honour the target's own forgeries (its bearer checks)."""
    chaos(target_url, "PUT", "/forgery", {"kind": "wrong_aud", "probability": 1, "tokens": ["access"]})
    login = user_context(target_url)
    assert AuthorizationCodePkceFlow(login.ctx).run()
    assert outcomes(login)["userinfo_forged_wrong_aud"] == {"ok"} and outcomes(login)["id_token"] == {"ok"}
    service = user_context(target_url)
    assert ClientCredentialsFlow(service.ctx).run()
    assert outcomes(service)["introspect_forged_wrong_aud"] == {"ok"}


def test_without_forgeries_nothing_is_called_forged(target_url: str, forging: None, tmp_path: Path) -> None:
    h = user_context(target_url)
    for flow in (JwksValidationFlow(h.ctx), AuthorizationCodePkceFlow(h.ctx), ClientCredentialsFlow(h.ctx)):
        assert flow.run()
    assert not any("_forged_" in step for step in outcomes(h))
