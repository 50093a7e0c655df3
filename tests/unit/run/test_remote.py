"""What a run across machines is checked for before anything starts, and what it says."""

from __future__ import annotations

import random

import pytest

from harness.contract import Env
from harness.errors import InputError
from harness.run import remote
from harness.scenario.model import Scenario

EMBEDDED = Scenario.model_validate({"name": "s", "load": {"users": 1}, "phases": [{"name": "p", "duration_s": 1}]})
EXTERNAL = Scenario.model_validate({
    "name": "x", "load": {"users": 1}, "phases": [{"name": "p", "duration_s": 1}], "proxy": {"kind": "none"},
    "target": {"kind": "external", "issuer": "https://idp.example.com", "allow": ["idp.example.com"],
               "client_id_env": "IDP_ID", "client_secret_env": "IDP_SECRET"},
})  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.0.0.5:5557", ("10.0.0.5", 5557)), ("[::1]:80", ("::1", 80)), ("master.local:1", ("master.local", 1))],
)
def test_host_and_port(value: str, expected: tuple[str, int]) -> None:
    assert remote.parse_hostport(value, "--master-bind") == expected


def test_a_default_port_when_there_is_one() -> None:
    assert remote.parse_hostport("harness-master", "--master", 5557) == ("harness-master", 5557)
    assert remote.parse_hostport("[fd00::1]", "--master", 5557) == ("fd00::1", 5557)


@pytest.mark.parametrize("value", ["10.0.0.5", "10.0.0.5:", ":5557", "h:99999", "h:0", "h:x"])
def test_bad_host_and_port_names_the_flag(value: str) -> None:
    with pytest.raises(InputError, match=r"--master-bind .*expected HOST:PORT"):
        remote.parse_hostport(value, "--master-bind")


def test_listen_takes_only_an_address_of_this_machine() -> None:
    mine = {"127.0.0.1", "10.1.2.3"}
    bindable = lambda host, port: host in mine  # noqa: E731
    assert remote.check_listen("10.1.2.3", bindable=bindable) == "10.1.2.3"
    with pytest.raises(InputError, match="not an address of this machine"):
        remote.check_listen("192.0.2.7", bindable=bindable)
    for wildcard in ("0.0.0.0", "::"):
        with pytest.raises(InputError, match="not a wildcard"):
            remote.check_listen(wildcard, bindable=bindable)
    with pytest.raises(InputError, match="give an IP address"):
        remote.check_listen("example.com", bindable=bindable)


def test_the_master_port_is_below_the_ephemeral_range_and_free() -> None:
    taken: list[int] = []

    def bindable(host: str, port: int) -> bool:
        taken.append(port)
        return len(taken) > 3  # the first three are in use

    port = remote.master_port("127.0.0.1", random.Random(1), bindable)
    assert port == taken[-1] and len(taken) == 4 and 1024 <= port < 61000
    with pytest.raises(InputError, match="give --master-bind"):
        remote.master_port("127.0.0.1", random.Random(1), lambda h, p: False)


def test_expected_workers_count_the_local_ones() -> None:
    with pytest.raises(InputError, match="at least 2"):
        remote.check_remote(EMBEDDED, 2, 1, None, {})
    remote.check_remote(EMBEDDED, 2, 2, None, {})  # all local: nothing more needed


def test_remote_workers_need_a_master_address_and_the_client_secret_in_the_environment() -> None:
    with pytest.raises(InputError, match="--master-bind"):
        remote.check_remote(EMBEDDED, 0, 2, None, {Env.CLIENT_SECRET: "s"})
    with pytest.raises(InputError, match=f"set {Env.CLIENT_SECRET}"):
        remote.check_remote(EMBEDDED, 0, 2, "10.0.0.5:5557", {})
    remote.check_remote(EMBEDDED, 0, 2, "10.0.0.5:5557", {Env.CLIENT_SECRET: "s"})
    remote.check_remote(EXTERNAL, 0, 2, "10.0.0.5:5557", {})  # its own variables, checked before the run


def test_dry_run_lines_say_where_everything_listens() -> None:
    lines = remote.describe(1, 3, ("10.0.0.5", 5557), 60.0, "10.0.0.5")
    text = "\n".join(lines)
    assert "target and proxy on 10.0.0.5 (given by --listen" in text
    assert "binds 10.0.0.5:5557 and waits up to 60 s for 3 workers (1 started here, 2 remote" in text
    assert "`harness worker --master 10.0.0.5:5557`" in text and Env.CLIENT_SECRET in text
    assert "loopback only" in "\n".join(remote.describe(0, 0, None, 60.0, None))


def test_the_missing_workers_message_names_who_came_who_did_not_and_who_was_refused() -> None:
    event = {"expected": 4, "joined": ["w1", "far-1"], "waited_s": 60.0}
    refused = [{"node": "old", "host": "h9", "reason": "it runs harness 0.0.1"}]
    text = remote.missing_message(event, ["w1", "w2"], refused, "10.0.0.5:5557")
    assert text.startswith("2 of 4 load workers joined within 60.0 s (w1, far-1)")
    assert "local worker w2 (see logs/locust-worker-2.log)" in text
    assert "1 remote worker (`harness worker --master 10.0.0.5:5557`" in text
    assert "refused old on h9: it runs harness 0.0.1" in text
