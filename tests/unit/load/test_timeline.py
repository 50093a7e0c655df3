"""The fault timeline against a fake clock and a fake proxy: faults go on at their phase's start, come
off at its end, every change is written with asked-for and effective times, and stop() rolls back."""

from __future__ import annotations

from typing import Any

from harness.contract import TimelineEvent
from harness.faults import FaultApplier
from harness.load.timeline import Timeline
from harness.run.journal import Journal
from harness.scenario import load_scenario_text
from tests.unit.clients.fakes import FakeTime

SCENARIO = """
name: t
phases:
  - {name: baseline, duration_s: 10}
  - name: brownout
    duration_s: 5
    faults:
      - {type: http_error, endpoint: token, status: 503, probability: 0.3}
      - {type: latency, latency_ms: 100}
  - {name: recovery, duration_s: 10}
"""


class FakeProxy:
    def __init__(self, fake: FakeTime, fail_remove: bool = False):
        self.fake, self.fail_remove = fake, fail_remove
        self.toxics: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[float, str, str]] = []

    def add_toxic(self, proxy: str, type: str, attributes: Any = None, *, name: str | None = None,
                  stream: str | None = None, toxicity: float = 1.0) -> None:
        assert name is not None
        self.toxics[name] = {"type": type, "attributes": attributes, "stream": stream}
        self.log.append((self.fake.now, "add", type))

    def update_proxy(self, name: str, **fields: Any) -> None:
        self.log.append((self.fake.now, "update", str(fields)))

    def remove_toxic(self, proxy: str, name: str) -> None:
        if self.fail_remove:
            raise ConnectionError("proxy gone")
        self.log.append((self.fake.now, "remove", self.toxics.pop(name)["type"]))


def make(fail_remove: bool = False) -> tuple[Timeline, FakeProxy, list[dict[str, Any]], FakeTime]:
    fake = FakeTime(start=100.0)
    proxy = FakeProxy(fake, fail_remove)
    events: list[dict[str, Any]] = []

    def emit(event: TimelineEvent) -> None:
        events.append(dict(event))  # plain dicts, as the journal and lateness_ms read timeline.jsonl back

    scenario = load_scenario_text(SCENARIO)
    timeline = Timeline(scenario.phases, FaultApplier(proxy, "sso"), emit, clock=fake.clock, sleep=fake.sleep)
    return timeline, proxy, events, fake


def test_faults_follow_the_phases() -> None:
    timeline, proxy, events, _ = make()
    timeline.run(start=100.0)
    assert proxy.log == [(110.0, "add", "http_error"), (110.0, "add", "latency"),
                         (115.0, "remove", "latency"), (115.0, "remove", "http_error")]
    assert proxy.toxics == {}
    kinds = [e["kind"] for e in events]
    assert kinds.count("phase_start") == 3 and kinds.count("fault_applied") == 2
    assert kinds.count("fault_removed") == 2 and kinds[-1] == "timeline_end"
    assert timeline.current_phase == "recovery"


def test_events_carry_asked_and_effective_times() -> None:
    timeline, _, events, _ = make()
    timeline.run(start=100.0)
    applied = [e for e in events if e["kind"] == "fault_applied"]
    assert {e["asked_at"] for e in applied} == {110.0}
    assert all(e["ts"] >= e["asked_at"] for e in events if "asked_at" in e and e["kind"] != "timeline_start")
    assert applied[0]["spec"]["status"] == 503 and applied[0]["fault_id"] == "brownout.0"


def test_stop_mid_fault_removes_everything_once() -> None:
    timeline, proxy, events, fake = make()

    def sleep_then_stop(seconds: float) -> None:
        fake.sleep(seconds)
        if fake.now >= 112.0:
            timeline.stop()

    timeline.sleep = sleep_then_stop
    timeline.run(start=100.0)
    assert proxy.toxics == {}
    removed = [e for e in events if e["kind"] == "fault_removed"]
    assert len(removed) == 2 and {e["reason"] for e in removed} == {"stop"}
    timeline.stop()  # idempotent
    assert len([e for e in events if e["kind"] == "fault_removed"]) == 2
    assert not any(e["kind"] == "phase_start" and e["phase"] == "recovery" for e in events)


def test_a_failing_removal_is_reported_not_raised() -> None:
    timeline, _, events, _ = make(fail_remove=True)
    timeline.run(start=100.0)
    errors = [e for e in events if e["kind"] == "fault_error"]
    assert len(errors) == 2 and all("proxy gone" in e["error"] for e in errors)


def test_journal_folds_the_timeline(tmp_path) -> None:
    timeline, _, events, _ = make()
    timeline.run(start=100.0)
    journal = Journal(tmp_path / "journal.json", "r1", {"name": "t"})
    journal.fold(events)
    assert [p["name"] for p in journal.phases] == ["baseline", "brownout", "recovery"]
    assert journal.phases[1]["start"] == 110.0 and journal.phases[1]["end"] == 115.0
    faults = {f["id"]: f for f in journal.faults}
    assert faults["brownout.0"]["applied_at"] == 110.0 and faults["brownout.0"]["removed_at"] == 115.0
    assert journal.test_start == 100.0


def test_lateness_is_effective_minus_asked() -> None:
    from harness.load.timeline import lateness_ms, p99

    timeline, _, events, fake = make()
    slow_apply = timeline.applier.apply  # type: ignore[union-attr]

    def apply_taking_20_ms(fault, name):
        fake.sleep(0.02)
        return slow_apply(fault, name)

    timeline.applier.apply = apply_taking_20_ms  # type: ignore[union-attr,method-assign]
    timeline.run(start=100.0)
    late = lateness_ms(events)
    assert len(late) == 4
    assert sorted(round(x) for x in late)[-2:] == [20, 40]  # the second fault waited for the first
    assert p99(late) == max(late) and p99([]) is None
