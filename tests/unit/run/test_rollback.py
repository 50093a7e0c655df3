"""The rollback that runs on every exit path, driven with fakes of what a run started: no process, no
socket, no sleep. Each step lands in the journal with whether it held."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from harness.contract import HostEvent
from harness.run.journal import Journal
from harness.run.rollback import ProxyInUse, Rollback


class FakeLoad:
    """A load process that quits on SIGINT after `quits_after` waits (None: never)."""

    def __init__(self, quits_after: int | None = 0) -> None:
        self.quits_after, self.waits, self.stopped = quits_after, 0, False
        self.code: int | None = None
        self.signals: list[int] = []

    def alive(self) -> bool:
        return self.code is None

    def signal(self, sig: int) -> None:
        self.signals.append(sig)
        if self.quits_after == 0:
            self.code = 0

    def wait(self, timeout_s: float) -> int | None:
        self.waits += 1
        if self.signals and self.quits_after is not None and self.waits >= self.quits_after:
            self.code = 0
        return self.code

    def stop(self, timeout_s: float = 10.0) -> int | None:
        self.stopped, self.code = True, -9
        return self.code

    def returncode(self) -> int | None:
        return self.code


class FakeProxyApi:
    def __init__(self, proxies: dict[str, dict[str, Any]], reset_clears: bool = True, dead: bool = False) -> None:
        self.proxies, self.reset_clears, self.dead = proxies, reset_clears, dead
        self.calls: list[str] = []

    def _up(self) -> None:
        if self.dead:
            raise ConnectionError("connection refused")

    def reset(self) -> None:
        self._up()
        self.calls.append("reset")
        if self.reset_clears:
            for proxy in self.proxies.values():
                proxy["toxics"] = []

    def get_proxies(self) -> dict[str, dict[str, Any]]:
        self._up()
        return {name: dict(p) for name, p in self.proxies.items()}

    def remove_toxic(self, proxy: str, name: str) -> None:
        self.calls.append(f"remove {proxy}/{name}")
        self.proxies[proxy]["toxics"] = [t for t in self.proxies[proxy]["toxics"] if t["name"] != name]

    def delete_proxy(self, name: str) -> None:
        self.calls.append(f"delete {name}")
        del self.proxies[name]

    def metrics(self) -> str:
        self._up()
        return "harness_proxy_toxic_injected_total 3\n"


class FakeHost:
    def __init__(self) -> None:
        self.rolled_back = False

    def roll_back_faults(self) -> list[tuple[str, bool, str]]:
        self.rolled_back = True
        return [("process faults", True, "SIGCONT sent to [42]"), ("network faults", False, "t1: nft failed")]

    def measurements(self) -> list[HostEvent]:
        return [{"kind": "target_restarted", "ts": 1.0, "fault_toxic": "p1-f0", "outage_s": 2.5}]


class FakeTargetChaos:
    def __init__(self, fails: bool = False) -> None:
        self.fails, self.resets = fails, 0

    def reset(self) -> dict[str, Any]:
        self.resets += 1
        if self.fails:
            raise ConnectionError("target gone")
        return {"errors": {}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.json", "run", {"name": "x"})


def steps(j: Journal) -> list[tuple[str, bool]]:
    return [(s["action"], s["ok"]) for s in j.rollback]


def test_the_load_is_stopped_first_gracefully_then_every_fault_comes_off(tmp_path: Path) -> None:
    j, load, host, target = journal(tmp_path), FakeLoad(), FakeHost(), FakeTargetChaos()
    api = FakeProxyApi({"sso": {"toxics": [{"name": "harness-p1-f0"}]}})
    Rollback(j, tmp_path, load, host, target, ProxyInUse(api, "sso", ours=True)).run()
    assert load.signals == [signal.SIGINT] and not load.stopped
    assert steps(j) == [("stop load", True), ("process faults", True), ("network faults", False),
                        ("reset target chaos", True), ("remove faults", True)]  # fmt: skip
    assert api.calls == ["reset"] and target.resets == 1
    assert (tmp_path / "proxy-metrics.txt").read_text().startswith("harness_proxy_toxic_injected_total")
    (restarted,) = [e for e in j.events if e["kind"] == "target_restarted"]
    assert restarted["outage_s"] == 2.5 and restarted["detail"] == "p1-f0"


def test_a_load_that_ignores_sigint_is_killed_after_its_grace(tmp_path: Path) -> None:
    j, load = journal(tmp_path), FakeLoad(quits_after=None)
    Rollback(j, tmp_path, load, stop_s=5.0, clock=FakeClock()).run()
    assert load.stopped and 1 <= load.waits <= 5
    assert steps(j) == [("stop load", True)] and "exit code -9" in j.rollback[0]["detail"]


def test_forcing_stops_waiting_for_the_load_but_not_the_rollback(tmp_path: Path) -> None:
    j, load = journal(tmp_path), FakeLoad(quits_after=None)
    api = FakeProxyApi({"sso": {"toxics": [{"name": "t"}]}})
    rollback = Rollback(j, tmp_path, load, proxy=ProxyInUse(api, "sso", ours=True), clock=FakeClock())
    rollback.force()
    rollback.run()
    assert load.waits == 0 and load.stopped
    assert steps(j) == [("stop load", True), ("remove faults", True)]


def test_a_toxic_that_survives_the_reset_fails_the_step_by_name(tmp_path: Path) -> None:
    j = journal(tmp_path)
    api = FakeProxyApi({"sso": {"toxics": [{"name": "stuck"}]}}, reset_clears=False)
    Rollback(j, tmp_path, proxy=ProxyInUse(api, "sso", ours=True)).run()
    assert steps(j) == [("remove faults", False)] and "stuck" in j.rollback[0]["detail"]


def test_a_dead_proxy_of_ours_holds_no_fault(tmp_path: Path) -> None:
    j = journal(tmp_path)
    api = FakeProxyApi({}, dead=True)
    gone = FakeLoad()
    gone.code = -9
    Rollback(j, tmp_path, proxy=ProxyInUse(api, "sso", ours=True, process=gone)).run()
    assert steps(j) == [("remove faults", True)] and "gone" in j.rollback[0]["detail"]
    assert [e["kind"] for e in j.events] == ["proxy_counters_unavailable"]


def test_an_unreachable_proxy_that_is_not_known_dead_fails_the_step(tmp_path: Path) -> None:
    j = journal(tmp_path)
    Rollback(j, tmp_path, proxy=ProxyInUse(FakeProxyApi({}, dead=True), "sso", ours=True)).run()
    assert steps(j) == [("remove faults", False)] and "ConnectionError" in j.rollback[0]["detail"]


def test_on_a_shared_proxy_only_our_toxics_and_proxy_go(tmp_path: Path) -> None:
    j = journal(tmp_path)
    api = FakeProxyApi({
        "harness-run-abc": {"toxics": [{"name": "ours-1"}, {"name": "ours-2"}]},
        "someone-else": {"toxics": [{"name": "theirs"}]},
    })  # fmt: skip
    Rollback(j, tmp_path, proxy=ProxyInUse(api, "harness-run-abc", ours=False)).run()
    assert "reset" not in api.calls
    assert api.calls == ["remove harness-run-abc/ours-1", "remove harness-run-abc/ours-2", "delete harness-run-abc"]
    assert api.proxies == {"someone-else": {"toxics": [{"name": "theirs"}]}}
    assert steps(j) == [("remove faults", True)]


def test_a_failed_target_chaos_reset_is_recorded_and_the_rest_still_runs(tmp_path: Path) -> None:
    j = journal(tmp_path)
    api = FakeProxyApi({"sso": {"toxics": []}})
    Rollback(j, tmp_path, target_chaos=FakeTargetChaos(fails=True), proxy=ProxyInUse(api, "sso", ours=True)).run()
    assert steps(j) == [("reset target chaos", False), ("remove faults", True)]


def test_a_run_that_started_nothing_has_nothing_to_roll_back(tmp_path: Path) -> None:
    j = journal(tmp_path)
    Rollback(j, tmp_path).run()
    assert j.rollback == []


def test_on_a_shared_proxy_every_proxy_of_the_run_goes(tmp_path: Path) -> None:
    j = journal(tmp_path)
    api = FakeProxyApi({"h-1": {"toxics": [{"name": "a"}]}, "h-1-2": {"toxics": []}, "theirs": {"toxics": []}})
    Rollback(j, tmp_path, proxy=ProxyInUse(api, "h-1", ours=False, more=("h-1-2",))).run()
    assert api.calls == ["remove h-1/a", "delete h-1", "delete h-1-2"]
    assert list(api.proxies) == ["theirs"] and steps(j) == [("remove faults", True)]


def test_a_shared_proxy_cut_short_before_ours_existed_leaves_the_others_alone(tmp_path: Path) -> None:
    j = journal(tmp_path)
    api = FakeProxyApi({"someone-else": {"toxics": [{"name": "theirs"}]}})
    Rollback(j, tmp_path, proxy=ProxyInUse(api, "harness-run-abc", ours=False)).run()
    assert api.calls == [] and steps(j) == [("remove faults", True)]
