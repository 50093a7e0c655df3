"""Which seeded identity a simulated user signs in as on the embedded target."""

from __future__ import annotations

import random

from harness.clients.flows import embedded_user
from harness.contract import seeded_password, seeded_username

ENV = {"HARNESS_USERNAME": "user0001", "HARNESS_PASSWORD": "pw-user0001"}


def test_without_a_count_every_user_is_the_configured_one() -> None:
    users = {embedded_user(ENV, random.Random(i), i).username for i in range(5)}
    assert users == {"user0001"}
    assert embedded_user(ENV, random.Random(0), 0).password == "pw-user0001"


def test_user_index_spreads_users_over_the_seeded_identities() -> None:
    env = {**ENV, "HARNESS_USER_COUNT": "3"}
    names = [embedded_user(env, random.Random(0), i).username for i in range(6)]
    assert names == ["user0001", "user0002", "user0003", "user0001", "user0002", "user0003"]
    creds = embedded_user(env, random.Random(0), 1)
    assert creds.password == seeded_password("user0002")


def test_names_follow_the_target_width_for_large_directories() -> None:
    env = {**ENV, "HARNESS_USER_COUNT": "100000"}
    assert embedded_user(env, random.Random(0), 99_999).username == seeded_username(100_000, 100_000) == "user100000"


def test_without_an_index_the_users_rng_picks_reproducibly() -> None:
    env = {**ENV, "HARNESS_USER_COUNT": "50"}
    first = [embedded_user(env, random.Random(seed), None).username for seed in range(20)]
    again = [embedded_user(env, random.Random(seed), None).username for seed in range(20)]
    assert first == again and len(set(first)) > 5


def test_a_bad_count_falls_back_to_the_configured_user() -> None:
    assert embedded_user({**ENV, "HARNESS_USER_COUNT": "many"}, random.Random(0), 3).username == "user0001"


def test_a_named_entry_of_the_flow_mix_records_under_its_name_with_its_leeway() -> None:
    from harness.clients.flows import JwksValidationFlow, build_flows
    from harness.scenario import load_scenario_text

    scenario = load_scenario_text(
        "name: t\nphases: [{name: a, duration_s: 1}]\nflows:\n  - {flow: jwks_validation}\n"
        "  - {flow: jwks_validation, name: strict-rp, leeway_s: 0}\n  - {flow: client_credentials}\n"
    )
    lenient, strict, plain = build_flows(scenario, None, "http://127.0.0.1:1", None)  # type: ignore[arg-type]
    assert isinstance(strict, JwksValidationFlow) and isinstance(lenient, JwksValidationFlow)
    assert (lenient.label, lenient.leeway_s) == ("jwks_validation", 30.0)
    assert (strict.label, strict.leeway_s) == ("strict-rp", 0.0)
    assert plain.label == "client_credentials"
