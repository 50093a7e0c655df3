"""A 10-minute soak writes partial reports and serves metrics that parse (issue 20's proof).

The soak runs in the background of the whole session (tests/soak_support.py, started by tests/conftest.py
once this module is selected, which it also moves to the end), where /metrics is scraped every 10 s while
the soak goes on; here every answer is parsed with prometheus_client's parser. When the suite was shorter than the
soak, the test waits for the first partial report only and then interrupts the run, and the checks below
are of what exists then (the output says the soak was cut short, and after how long).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import EXIT_ABORTED
from harness.records import read_records
from tests.soak_support import DURATION_S, PARTIAL_EVERY_S, Soak

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

POLL_S = 2.0
FIRST_PARTIAL_WAIT_S = PARTIAL_EVERY_S + 240.0  # start-up, the first interval, and a report on a busy machine
NEARLY_DONE_S = 90.0  # a soak this close to its end is waited for rather than cut short


@dataclass
class Scrape:
    samples: list[Any]  # prometheus_client Samples
    live: dict[str, Any]  # live.json read right after


@dataclass
class SoakOutcome:
    exit_code: int
    run_dir: Path
    shortened: bool
    ran_s: float
    scrapes: list[Scrape] = field(default_factory=list)


def parsed(soak: Soak) -> list[Scrape]:
    """The scrapes kept while the soak ran (tests/soak_support.py), parsed with prometheus_client's parser."""
    out = []
    for text, live in soak.scrapes():
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
        out.append(Scrape(samples, json.loads(live)))
    return out


def finished_partials(run_dir: Path | None) -> list[Path]:
    if run_dir is None or not (run_dir / "partial").exists():
        return []
    # junit.xml is the last file a report writes
    return sorted(p for p in (run_dir / "partial").iterdir() if (p / "junit.xml").exists())


@pytest.fixture(scope="module")
def soak(background_soak: Soak) -> SoakOutcome:
    shortened = False
    while background_soak.running():
        elapsed = background_soak.elapsed_s()
        remaining = DURATION_S + 30.0 - elapsed
        ready = finished_partials(background_soak.run_dir()) and len(background_soak.scrapes()) >= 3
        if ready and remaining > NEARLY_DONE_S:
            shortened = True  # the suite was shorter than the soak: stop it, check what exists
            break
        assert elapsed < DURATION_S + FIRST_PARTIAL_WAIT_S, f"the soak is still going:\n{background_soak.log()}"
        time.sleep(POLL_S)
    ran_s = background_soak.elapsed_s()
    code = background_soak.interrupt() if shortened else background_soak.wait(timeout_s=120)
    scrapes = parsed(background_soak)
    print(f"\nsoak: {'cut short (SIGINT) after' if shortened else 'ran its full 10 minutes:'} {ran_s:.0f} s, "
          f"{len(scrapes)} scrapes of /metrics, exit code {code}")
    run_dir = background_soak.run_dir()
    assert run_dir is not None, background_soak.log()
    return SoakOutcome(code, run_dir, shortened, ran_s, scrapes)


def by_name(samples: list[Any], name: str) -> list[Any]:
    return [s for s in samples if s.name == name]


def test_the_soak_ends_as_it_was_ended_with_a_report(soak: SoakOutcome) -> None:
    journal = json.loads((soak.run_dir / "journal.json").read_text())
    if soak.shortened:
        assert soak.exit_code == EXIT_ABORTED and journal["status"] == "interrupted"
    else:
        assert soak.exit_code in (0, 1) and journal["status"] == "completed"
        assert journal["scenario"]["duration_s"] == pytest.approx(DURATION_S)
    assert (soak.run_dir / "report.html").exists()


def test_partial_reports_are_written_while_the_soak_goes_and_read_what_was_there(soak: SoakOutcome) -> None:
    partials = finished_partials(soak.run_dir)
    assert partials, "no partial report finished"
    expected = int(soak.ran_s // PARTIAL_EVERY_S)
    # one every 2 minutes of the watch loop (which starts after the services): the last may have been cut
    # off at the end, and one that took long on a busy machine pushes the next one later
    assert max(1, expected - 2) <= len(partials) <= expected
    final = read_records(soak.run_dir / "records", "operations", columns=["ts"]).num_rows
    counts = []
    for partial in partials:
        summary = json.loads((partial / "summary.json").read_text())
        assert summary["status"] == "running"  # judged on what it had, while the run went on
        assert summary["slos"] and all(s["name"] for s in summary["slos"])
        counts.append(sum(p.get("operations") or 0 for p in summary["phases"].values()))
    assert counts == sorted(counts) and 0 < counts[-1] <= final


def test_metrics_parse_and_count_by_phase_flow_step_and_outcome(soak: SoakOutcome) -> None:
    assert len(soak.scrapes) >= 3
    previous: dict[tuple[Any, ...], float] = {}
    for got in soak.scrapes:
        ops = by_name(got.samples, "harness_operations_total")
        for sample in ops:
            assert {"phase", "flow", "step", "outcome"} <= set(sample.labels)
            key = tuple(sorted(sample.labels.items()))
            assert sample.value >= previous.get(key, 0.0)  # counters only grow
            previous[key] = sample.value
    last = soak.scrapes[-1].samples
    assert sum(s.value for s in by_name(last, "harness_operations_total")) > 0
    assert sum(s.value for s in by_name(last, "harness_attempts_total")) > 0
    assert by_name(last, "harness_operation_latency_seconds_bucket")
    steps = {s.labels["step"] for s in by_name(last, "harness_operations_total")}
    assert {"token", "journey"} <= steps
    records = read_records(soak.run_dir / "records", "operations", columns=["ts"]).num_rows
    assert sum(s.value for s in by_name(last, "harness_operations_total")) <= records


def test_the_brownout_shows_as_an_active_fault_and_its_failures(soak: SoakOutcome) -> None:
    """The fault is in force from 1 to 3 minutes of the 10; the test waits at least 2 minutes."""
    faults = [s for got in soak.scrapes for s in by_name(got.samples, "harness_fault_active")]
    on = [s for s in faults if s.value == 1.0]
    assert on and {s.labels["type"] for s in on} == {"http_error"} and on[0].labels["phase"] == "brownout"
    assert "503" in on[0].labels["label"]
    last = soak.scrapes[-1].samples
    failed = [s for s in by_name(last, "harness_attempts_total") if s.labels["outcome"] == "http_5xx"]
    assert failed and all(s.labels["phase"] == "brownout" for s in failed)


def test_slo_states_are_the_live_views_own(soak: SoakOutcome) -> None:
    """One number, one source: /metrics shows the states live.json shows for the same judgement."""
    agreed = 0
    for got in soak.scrapes:
        judged = by_name(got.samples, "harness_slo_judged_timestamp_seconds")
        if not judged or got.live.get("slos_at") != judged[0].value:
            continue  # a judgement between the scrape and the read of live.json
        states = {s.labels["slo"]: s.labels["state"] for s in by_name(got.samples, "harness_slo_state") if s.value}
        assert states == {s["name"]: s["state"] for s in got.live["slos"]}
        agreed += 1
    assert agreed >= 1
    names = {s.labels["slo"] for s in by_name(soak.scrapes[-1].samples, "harness_slo_state")}
    assert names == {"steady", "brownout-ops", "fail-closed"}
