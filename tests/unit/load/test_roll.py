"""Who the master lets into a run: its own version only, file-safe and unique node names; a remote worker
is in once it applied the setup."""

from __future__ import annotations

from harness.contract import WIRE_VERSION, WorkerHello
from harness.load.roll import Roll


def hello(node: str = "w1", version: str = "1.2.3", remote: bool = False, wire: int = WIRE_VERSION) -> WorkerHello:
    return {"node": node, "host": "h1", "pid": 42, "cores": 4, "version": version, "wire": wire, "remote": remote}


def test_a_local_worker_of_the_same_version_is_in_at_once() -> None:
    roll = Roll("1.2.3")
    assert roll.hello("c1", hello(), 10.0) == ("join", None)
    joined = roll.joined["c1"]
    assert (joined["kind"], joined["node"], joined["host"], joined["pid"], joined["cores"]) == (
        "worker_joined", "w1", "h1", 42, 4)  # fmt: skip
    assert (joined["version"], joined["remote"], joined["ts"]) == ("1.2.3", False, 10.0)
    assert roll.count == 1 and roll.describe() == "w1 (h1, pid 42, 4 cores)"


def test_a_remote_worker_gets_the_setup_and_is_in_once_ready() -> None:
    roll = Roll("1.2.3")
    assert roll.hello("c1", hello("far", remote=True), 1.0) == ("setup", None)
    assert roll.count == 0 and roll.node_of("c1") == "far"
    joined = roll.ready("c1", 2.0)
    assert joined is not None and joined["remote"] and joined["ts"] == 2.0
    assert roll.count == 1 and roll.remote("c1")
    assert roll.ready("c1", 3.0) is None  # once


def test_another_version_or_message_version_is_refused_saying_both() -> None:
    roll = Roll("1.2.3")
    decision, refused = roll.hello("c1", hello(version="1.2.2"), 1.0)
    assert decision == "refuse" and refused is not None
    assert "runs harness 1.2.2" in refused["reason"] and "master runs 1.2.3" in refused["reason"]
    decision, refused = roll.hello("c2", hello("w2", wire=WIRE_VERSION + 1), 1.0)
    assert decision == "refuse" and refused is not None and f"messages v{WIRE_VERSION + 1}" in refused["reason"]
    assert roll.count == 0 and len(roll.refused) == 2


def test_node_names_must_be_file_safe_and_unique() -> None:
    roll = Roll("1.2.3")
    assert roll.hello("c1", hello("w1"), 1.0)[0] == "join"
    decision, refused = roll.hello("c2", hello("w1"), 1.0)
    assert decision == "refuse" and refused is not None and "taken" in refused["reason"]
    for bad in ("../x", "a b", "", "x" * 65):
        assert roll.hello("c3", hello(bad), 1.0)[0] == "refuse", bad
    assert roll.hello("c4", hello("master"), 1.0)[0] == "refuse"


def test_a_worker_that_declines_is_refused_with_its_own_reason() -> None:
    roll = Roll("1.2.3")
    roll.hello("c1", hello("far", remote=True), 1.0)
    refused = roll.declined("c1", "set HARNESS_CLIENT_SECRET", 2.0)
    assert refused is not None and refused["node"] == "far" and refused["reason"] == "set HARNESS_CLIENT_SECRET"
    assert roll.count == 0 and roll.declined("c1", "again", 3.0) is None
